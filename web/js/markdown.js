// Markdown for the answers, safe by construction: the model's text is
// HTML-escaped FIRST, and only then are Markdown marks turned into a fixed set
// of tags (p, br, h1-h6, ul/ol/li, blockquote, hr, pre/code, strong, em, del,
// a to http(s) only). Nothing the model writes can become a tag or an
// attribute: a "<script>" in an answer is shown as the text "<script>".
// Unclosed code fences (an answer still streaming) render as code so far.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** The answer as HTML (a string made only of our own tags around escaped text). */
export function render(markdown) {
  const html = [];
  for (const block of blocks(String(markdown).replace(/\r\n?/g, "\n"))) {
    html.push(block.code !== undefined ? codeBlock(block) : prose(block.lines));
  }
  return html.join("");
}

/** Plain text to read aloud: code blocks and Markdown marks left out. */
export function speakable(markdown) {
  return blocks(String(markdown)).filter((block) => block.code === undefined)
    .map((block) => block.lines.join("\n")).join("\n")
    .replace(/`([^`]*)`/g, "$1")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+/gm, "")
    .replace(/[*_~]{1,3}([^*_~]+)[*_~]{1,3}/g, "$1")
    .replace(/\n{2,}/g, "\n").trim();
}

// Fenced code blocks and the prose between them: [{lines} | {code, language}].
function blocks(text) {
  const found = [];
  let prose = [];
  let fence = null;
  for (const line of text.split("\n")) {
    const mark = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)/.exec(line);
    if (fence) {
      if (mark && mark[1][0] === fence.mark[0] && mark[1].length >= fence.mark.length && !mark[2]) {
        found.push({ code: fence.lines.join("\n"), language: fence.language });
        fence = null;
      } else {
        fence.lines.push(line);
      }
    } else if (mark) {
      found.push({ lines: prose });
      prose = [];
      fence = { mark: mark[1], language: mark[2], lines: [] };
    } else {
      prose.push(line);
    }
  }
  if (fence) {
    found.push({ code: fence.lines.join("\n").replace(/\n+$/, ""), language: fence.language });
  } else {
    found.push({ lines: prose });
  }
  return found.filter((block) => block.code !== undefined || block.lines.some((l) => l.trim()));
}

function codeBlock({ code, language }) {
  const label = language ? escapeHtml(language) : "código";
  const languageClass = language ? ` class="language-${escapeHtml(language)}"` : "";
  return `<div class="code-block"><div class="code-head"><span>${label}</span>` +
    `<button type="button" class="copy-code">Copiar código</button></div>` +
    `<pre><code${languageClass}>${escapeHtml(code)}</code></pre></div>`;
}

// Headings, lists, quotes, rules and paragraphs, line by line.
function prose(lines) {
  const out = [];
  let paragraph = [];
  let list = null;
  let quote = [];
  const flushParagraph = () => {
    if (paragraph.length) {
      out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
      paragraph = [];
    }
  };
  const flushList = () => {
    if (list) {
      out.push(`<${list.tag}>${list.items.map((item) => `<li>${inline(item)}</li>`).join("")}</${list.tag}>`);
      list = null;
    }
  };
  const flushQuote = () => {
    if (quote.length) {
      out.push(`<blockquote>${prose(quote)}</blockquote>`);
      quote = [];
    }
  };
  const flushAll = () => {
    flushParagraph();
    flushList();
    flushQuote();
  };
  for (const line of lines) {
    let match;
    if (!line.trim()) {
      flushAll();
    } else if ((match = /^\s{0,3}>\s?(.*)$/.exec(line))) {
      flushParagraph();
      flushList();
      quote.push(match[1]);
    } else if ((match = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      flushAll();
      const level = match[1].length;
      out.push(`<h${level}>${inline(match[2])}</h${level}>`);
    } else if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flushAll();
      out.push("<hr>");
    } else if ((match = /^\s{0,3}(?:([-*+])|(\d{1,9})[.)])\s+(.*)$/.exec(line))) {
      flushParagraph();
      flushQuote();
      const tag = match[1] ? "ul" : "ol";
      if (!list || list.tag !== tag) {
        flushList();
        list = { tag, items: [] };
      }
      list.items.push(match[3]);
    } else if (list && /^\s+\S/.test(line)) {
      list.items[list.items.length - 1] += ` ${line.trim()}`;
    } else {
      flushList();
      flushQuote();
      paragraph.push(line.trim());
    }
  }
  flushAll();
  return out.join("");
}

// Inline marks over escaped text; `code` spans are kept apart from the rest.
function inline(text) {
  return String(text).split(/(`[^`]+`)/).map((piece) => {
    if (/^`[^`]+`$/.test(piece)) {
      return `<code>${escapeHtml(piece.slice(1, -1))}</code>`;
    }
    return escapeHtml(piece)
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g,
               '<a href="$2" target="_blank" rel="noopener noreferrer nofollow">$1</a>')
      .replace(/\*\*([^*]+)\*\*|__([^_]+)__/g, (_, a, b) => `<strong>${a || b}</strong>`)
      .replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, "$1<em>$2</em>")
      .replace(/(^|[^_\w])_([^_\s][^_]*)_(?!\w)/g, "$1<em>$2</em>")
      .replace(/~~([^~]+)~~/g, "<del>$1</del>");
  }).join("");
}
