#!/usr/bin/env bash
# check-relative-links.sh — fail on any URL in feed files that a feed reader
# cannot open from where it shows the item: a relative href, src, srcset,
# poster or cite (`#a-heading`, `./a.png`, `/docs`) in the items' HTML, or
# a relative link of the feed itself.
#
# Usage:   scripts/check-relative-links.sh FILE...
# Example: scripts/check-relative-links.sh public/feed.xml public/atom.xml public/feed.json
#
# Reads RSS and Atom (XML) and JSON Feed files with Python's standard
# library only (xml.etree, json, html.parser), independently of newsroom's
# own code. Absolute means http(s) with a host, mailto: or tel:. Prints
# each relative URL as `FILE: <tag attr> URL`, then a summary such as
#   check-relative-links: 3 files, 812 URLs, 0 relative
# and exits 1 if any was found (2 on a file it cannot read).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 FILE..." >&2
    exit 2
fi

exec python3 - "$@" <<'PY'
import html.parser
import json
import sys
import urllib.parse
import xml.etree.ElementTree as ET

URL_ATTRIBUTES = {"href", "src", "poster", "cite", "action", "formaction", "background", "longdesc", "data", "xlink:href"}


def is_absolute(url):
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme.lower() in ("http", "https"):
        return bool(parsed.hostname)
    return parsed.scheme.lower() in ("mailto", "tel")


class UrlCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in URL_ATTRIBUTES:
                self.urls.append((f"<{tag} {name}>", value))
            elif name == "srcset":
                for candidate in value.split(","):
                    if candidate.strip():
                        self.urls.append((f"<{tag} srcset>", candidate.split()[0]))

    handle_startendtag = handle_starttag


def html_urls(text):
    collector = UrlCollector()
    collector.feed(text)
    collector.close()
    return collector.urls


def json_feed_urls(value, found):
    if isinstance(value, dict):
        for key, member in value.items():
            if key in ("content_html", "summary") and isinstance(member, str):
                found.extend(html_urls(member))
            elif key in ("url", "external_url", "image", "banner_image", "avatar", "icon", "favicon",
                         "home_page_url", "feed_url", "next_url") and isinstance(member, str):
                found.append((f"json {key}", member))
            else:
                json_feed_urls(member, found)
    elif isinstance(value, list):
        for item in value:
            json_feed_urls(item, found)


def xml_feed_urls(root):
    found = []
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        for name, value in element.attrib.items():
            if name.rsplit("}", 1)[-1] in ("href", "src", "url"):
                found.append((f"xml <{local} {name}>", value))
        if local in ("link", "uri", "icon", "logo", "comments") and element.text and element.text.strip():
            # An Atom <link> has no text; RSS's does.
            found.append((f"xml <{local}>", element.text))
        if local in ("description", "encoded", "content", "summary") and element.text:
            found.extend(html_urls(element.text))
    return found


def main(paths):
    total = relative = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
            if path.endswith(".json"):
                urls = []
                json_feed_urls(json.loads(text), urls)
            else:
                urls = xml_feed_urls(ET.fromstring(text))
        except (OSError, ValueError, ET.ParseError) as error:
            print(f"{path}: cannot read: {error}", file=sys.stderr)
            return 2
        for place, url in urls:
            total += 1
            if not is_absolute(url):
                relative += 1
                print(f"{path}: {place} {url}")
    print(f"check-relative-links: {len(paths)} files, {total} URLs, {relative} relative")
    return 1 if relative else 0


sys.exit(main(sys.argv[1:]))
PY
