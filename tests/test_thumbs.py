"""Thumbnail proxies: the size they promise and the origins they wrap (real card URLs)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from crawler.judge.thumbs import MAX_DEPTH, ProxyInfo, proxy_info

# The brief's card: ../shared/cards/engadget-clearview-2020.md, images[0].url
ENGADGET = (
    "https://o.aolcdn.com/images/dims?thumbnail=600%2C350&quality=80&image_uri=https%3A%2F%2F"
    "o.aolcdn.com%2Fimages%2Fdims%3Fcrop%3D4860%252C3281%252C0%252C496%26quality%3D85%26format"
    "%3Djpg%26resize%3D1600%252C1080%26image_uri%3Dhttps%253A%252F%252Fs.yimg.com%252Fos%252F"
    "creatr-images%252F2020-02%252Fe54aedf0-4c27-11ea-a9fe-866995234731%26client%3Da1acac3e1b3"
    "290917d92%26signature%3D391ffea25021c6719cf6fee9e9c0546ae4d25dff&client=amp-blogside-v2"
    "&signature=8eb6abcd4b8196a3f78f1a49f795c0cd964de258"
)
YIMG = "https://s.yimg.com/os/creatr-images/2020-02/e54aedf0-4c27-11ea-a9fe-866995234731"


def info(url: str) -> ProxyInfo:
    found = proxy_info(url)
    assert found is not None, url
    return found


def test_nested_aol_dims_unwraps_to_the_yahoo_original() -> None:
    found = info(ENGADGET)
    assert found.service == "aol-dims"
    assert (found.width, found.height, found.exact) == (600, 350, True)
    assert found.size_spec == "thumbnail=600,350"
    assert len(found.origins) == 2
    inner = found.origins[0]
    assert inner.startswith("https://o.aolcdn.com/images/dims?crop=4860%2C3281%2C0%2C496&")
    assert "resize=1600%2C1080" in inner and "signature=391ffea" in inner
    assert found.origins[-1] == YIMG


def test_the_declared_size_of_the_brief_card_fits() -> None:
    assert info(ENGADGET).size_conflict(600, 350) is None


def test_a_declared_size_the_thumbnail_cannot_have() -> None:
    detail = info(ENGADGET).size_conflict(1600, 1080)
    assert detail == (
        "the aol-dims proxy delivers exactly 600x350 (thumbnail=600,350), card declares 1600x1080"
    )


def test_the_inner_proxy_size_is_not_what_the_reader_gets() -> None:
    inner = info(info(ENGADGET).origins[0])
    assert (inner.width, inner.height, inner.exact) == (1600, 1080, False)  # resize: at most
    assert inner.origins == (YIMG,)


@pytest.mark.parametrize(
    ("url", "service", "size", "exact", "innermost"),
    [
        (
            "https://ewscripps.brightspotcdn.com/dims4/default/7221b31/2147483647/strip/true/crop/"
            "2048x1152+0+15/resize/1280x720!/quality/90/?url=https%3A%2F%2Fewscripps.brightspotcdn"
            ".com%2F4a%2Fe2%2F9ed004fd4e49a6ace04d43ba5343%2F95150534.jpg",
            "dims-path",
            (1280, 720),
            True,
            "https://ewscripps.brightspotcdn.com/4a/e2/9ed004fd4e49a6ace04d43ba5343/95150534.jpg",
        ),
        (
            "https://o.aolcdn.com/images/dims3/GLOB/crop/4066x2666+0+32/resize/1028x675!/format/jpg"
            "/quality/85/https%3A%2F%2Fs.yimg.com%2Fos%2Fcreatr-images%2F2020-04%2Fa312ae30",
            "dims-path",
            (1028, 675),
            True,
            "https://s.yimg.com/os/creatr-images/2020-04/a312ae30",
        ),
        (
            "https://images.thestar.com/tqOSyw59NDKCc7nXV4TGtjuvMi8=/1086x721/smart/filters:cb(1589"
            "048930489)/https://www.thespec.com/content/dam/thespec/news/amazon.jpg",
            "thumbor",
            (1086, 721),
            True,
            "https://www.thespec.com/content/dam/thespec/news/amazon.jpg",
        ),
        (
            "https://thumbor.forbes.com/thumbor/fit-in/1200x0/filters%3Aformat%28jpg%29/https%3A%2F"
            "%2Fspecials-images.forbesimg.com%2Fimageserve%2F5ec3edbee25ff100063bf727%2F0x0.jpg%3F"
            "cropX1%3D0%26cropX2%3D1918",
            "thumbor",
            (1200, None),
            False,
            "https://specials-images.forbesimg.com/imageserve/5ec3edbee25ff100063bf727/0x0.jpg"
            "?cropX1=0&cropX2=1918",
        ),
        (
            "https://i1.wp.com/www.broadbandtvnews.com/wp-content/uploads/2021/04/Unified.png"
            "?fit=1200%2C581&ssl=1",
            "photon",
            (1200, 581),
            False,
            "https://www.broadbandtvnews.com/wp-content/uploads/2021/04/Unified.png",
        ),
        (
            "https://i2.wp.com/sympmarc.com/wp-content/uploads/2021/02/image.png?resize=620%2C497",
            "photon",
            (620, 497),
            True,
            "http://sympmarc.com/wp-content/uploads/2021/02/image.png",
        ),
        (
            "https://res.cloudinary.com/demo/image/fetch/w_600,h_350,c_fill/https://www.histerius"
            ".com/hs0520/abf.jpg",
            "cloudinary-fetch",
            (600, 350),
            True,
            "https://www.histerius.com/hs0520/abf.jpg",
        ),
        (
            "https://res.cloudinary.com/scotfiles/image/fetch/https://www.histerius.com/hs0520/abf"
            ".jpg",
            "cloudinary-fetch",
            (None, None),
            False,
            "https://www.histerius.com/hs0520/abf.jpg",
        ),
        (
            "https://diverseeducation.com/wp-content/themes/responsive/timthumb.php?src=https%3A%2F"
            "%2Fs3.amazonaws.com%2Fimages-diverse%2Fuploads%2F2020%2F04%2FDIVERSE-APR30.png&q=90"
            "&h=450&zc=1",
            "timthumb",
            (None, 450),
            False,
            "https://s3.amazonaws.com/images-diverse/uploads/2020/04/DIVERSE-APR30.png",
        ),
        (
            "https://g.foolcdn.com/image/?url=https%3A%2F%2Fg.foolcdn.com%2Feditorial%2Fimages"
            "%2F574598%2Fgettyimages-1153461651.jpg&w=1200&op=resize",
            "url-param",
            (1200, None),
            False,
            "https://g.foolcdn.com/editorial/images/574598/gettyimages-1153461651.jpg",
        ),
        (
            "https://imagesvc.meredithcorp.io/v3/mm/image?q=85&c=sc&poi=face&w=1800&h=942&url="
            "https%3A%2F%2Fstatic.onecms.io%2Fwp-content%2Fuploads%2Fdiamond-head.jpg",
            "url-param",
            (1800, 942),
            False,
            "https://static.onecms.io/wp-content/uploads/diamond-head.jpg",
        ),
        (
            "https://d7hftxdivxxvm.cloudfront.net?resize_to=width&src=https%3A%2F%2Fartsy-media-"
            "uploads.s3.amazonaws.com%2FrvEpLtP28tteT2aRe3D1Iw%252FNgo_13.JPG&width=600&quality=80",
            "url-param",
            (600, None),
            False,
            "https://artsy-media-uploads.s3.amazonaws.com/rvEpLtP28tteT2aRe3D1Iw%2FNgo_13.JPG",
        ),
        (
            "https://content.cdntwrk.com/mediaproxy?url=http%3A%2F%2Fshare.opsy.st%2F5f7df584ec254-"
            "Screen%2BShot%2B2020-10-07.png&size=1&version=1602090399&sig=8fd9b7e8",
            "url-param",
            (None, None),
            False,
            "http://share.opsy.st/5f7df584ec254-Screen+Shot+2020-10-07.png",
        ),
        (
            "https://s.yimg.com/ny/api/res/1.2/KsS3EofnxiMnyxueSsqm4Q--/YXBwaWQ9aGlnaGxhbmRlcjt3PTE"
            "yMDA7aD02NzU-/https://media.zenfs.com/en/gamesradar_237/d23b6956a6654889",
            "url-param",
            (None, None),
            False,
            "https://media.zenfs.com/en/gamesradar_237/d23b6956a6654889",
        ),
        (
            "https://images.weserv.nl/?url=https://example.com/a.jpg&w=300&h=200",
            "weserv",
            (300, 200),
            False,
            "https://example.com/a.jpg",
        ),
    ],
)
def test_recognised_proxies(
    url: str,
    service: str,
    size: tuple[int | None, int | None],
    exact: bool,
    innermost: str,
) -> None:
    found = info(url)
    assert found.service == service
    assert (found.width, found.height) == size
    assert found.exact is exact
    assert found.origins[-1] == innermost


def test_a_brightspot_image_with_a_space_in_its_origin_is_re_escaped() -> None:
    url = (
        "https://ewscripps.brightspotcdn.com/dims4/default/5124961/2147483647/strip/true/crop/"
        "2763x1554+0+0/resize/1280x720!/quality/90/?url=https%3A%2F%2Fewscripps.brightspotcdn.com"
        "%2F78%2Faf%2Fscreen-shot-2020-05-07-at-4.46.25%20PM.png"
    )
    assert info(url).origins[-1] == (
        "https://ewscripps.brightspotcdn.com/78/af/screen-shot-2020-05-07-at-4.46.25%20PM.png"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://g.foolcdn.com/editorial/images/497755/istock_000016851885_large_large.jpg",
        "https://cdn.mos.cms.futurecdn.net/abc123-1200-80.jpg",
        "https://www.example.com/image.jpg?width=600&height=350",  # resized, but no origin
        "https://www.example.com/share?url=/relative/path.jpg",  # not an absolute URL
        "https://www.example.com/dims?thumbnail=600%2C350",  # dims without image_uri
        "https://i0.wp.com/",  # photon without a path
        "/assets/images/organizations/engadget.com-50x50.jpg",  # relative, not even http
    ],
)
def test_not_a_proxy(url: str) -> None:
    assert proxy_info(url) is None


@pytest.mark.parametrize(
    ("declared", "conflict"),
    [
        ((1200, 630), False),
        ((1200, 900), False),  # a fit-in box: any height up to... none given, so free
        ((800, 450), False),  # smaller than the box: fine for "at most"
        ((1600, 900), True),  # wider than the box: impossible
        ((None, None), False),  # nothing declared
    ],
)
def test_at_most_boxes(declared: tuple[int | None, int | None], conflict: bool) -> None:
    found = info(
        "https://thumbor.forbes.com/thumbor/fit-in/1200x0/https%3A%2F%2Fexample.com%2Fa.jpg"
    )
    detail = found.size_conflict(*declared)
    assert (detail is not None) is conflict
    if detail:
        assert "at most 1200x?" in detail


def test_exact_box_with_one_side_declared() -> None:
    found = info("https://i0.wp.com/example.com/a.jpg?resize=600%2C350")
    assert found.size_conflict(600, None) is None
    assert found.size_conflict(None, 351) is not None


def test_the_chain_ends_where_a_url_is_no_longer_a_proxy() -> None:
    url = (
        "https://o.aolcdn.com/images/dims?thumbnail=1%2C1&image_uri=https%3A%2F%2Fo.aolcdn.com"
        "%2Fimages%2Fdims%3Fimage_uri%3Dhttps%253A%252F%252Fo.aolcdn.com%252Fimages%252Fdims"
    )
    assert info(url).origins == (
        "https://o.aolcdn.com/images/dims?image_uri=https%3A%2F%2Fo.aolcdn.com%2Fimages%2Fdims",
        "https://o.aolcdn.com/images/dims",  # a dims path without image_uri: the end
    )


def test_deep_nesting_is_capped() -> None:
    url = "https://origin.example.com/a.jpg"
    for level in range(MAX_DEPTH + 3):
        url = f"https://p{level}.example.com/fit?url={quote(url, safe='')}"
    found = info(url)
    assert len(found.origins) == MAX_DEPTH
