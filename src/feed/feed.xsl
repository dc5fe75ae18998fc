<?xml version="1.0" encoding="utf-8"?>
<!-- Shows feed.xml as a readable page when it is opened in a browser. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <xsl:output method="html" version="1.0" encoding="UTF-8" indent="yes"/>
  <xsl:template match="/">
    <html lang="{/rss/channel/language}">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="/rss/channel/title"/> (RSS feed)</title>
        <style>
          body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; line-height: 1.5; }
          .about { background: #fff8c5; padding: .75rem 1rem; border-radius: 6px; }
          article { border-bottom: 1px solid #d0d7de; padding: 1rem 0; }
          time { color: #59636e; font-size: .9rem; }
        </style>
      </head>
      <body>
        <p class="about">This is an RSS feed. Copy its address into your feed reader to follow
          <xsl:value-of select="/rss/channel/title"/>.
          <!-- The feeds page needs no XSLT: the feed names it in its related link. -->
          <xsl:for-each select="/rss/channel/atom:link[@rel='related'][1]">
            <a href="{@href}"><xsl:value-of select="@title"/></a>.
          </xsl:for-each></p>
        <h1><a href="{/rss/channel/link}"><xsl:value-of select="/rss/channel/title"/></a></h1>
        <p><xsl:value-of select="/rss/channel/description"/></p>
        <xsl:for-each select="/rss/channel/item">
          <article>
            <h2><a href="{link}"><xsl:value-of select="title"/></a></h2>
            <time><xsl:value-of select="pubDate"/></time>
            <xsl:if test="dc:creator"> · <xsl:value-of select="dc:creator"/></xsl:if>
          </article>
        </xsl:for-each>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
