"""The page at `/`: paste an article, see it labelled in the same view `stance predict --format html` writes.

The page only collects the text: the server labels it and renders the view with the HTML view's
own renderer (POST /view), and the page puts that view, its style and its script, in place.
A link offers the view as the self-contained file `stance predict --format html` would write.
"""
from __future__ import annotations

PAGE_STYLE = """
#ask { font: 14px/1.4 system-ui, sans-serif; margin-bottom: 1.5em; }
#ask textarea { width: 100%; box-sizing: border-box; height: 14em; font: 14px/1.5 Georgia, serif; padding: .6em; }
#ask .row { display: flex; gap: 1em; align-items: center; flex-wrap: wrap; margin-top: .5em; }
#ask input[type=text] { width: 20em; }
#ask input[type=number] { width: 5em; }
#ask button { font: 600 14px system-ui, sans-serif; padding: .4em 1.4em; }
#status { color: #5f6368; }
#status.error { color: #c5221f; }
"""

PAGE_SCRIPT = """
(function () {
  var form = document.getElementById('ask'), status = document.getElementById('status');
  var view = document.getElementById('view'), download = document.getElementById('download');
  function say(message, isError) { status.textContent = message; status.className = isError ? 'error' : ''; }
  function show(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    document.getElementById('view-style').textContent = doc.querySelector('style').textContent;
    view.innerHTML = doc.body.innerHTML;
    // Scripts put in with innerHTML do not run: replace each by a fresh element that does.
    view.querySelectorAll('script').forEach(function (old) {
      var script = document.createElement('script');
      if (old.type) script.type = old.type;
      if (old.id) script.id = old.id;
      script.textContent = old.textContent;
      old.replaceWith(script);
    });
    if (download.href) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(new Blob([html], {type: 'text/html'}));
    download.hidden = false;
  }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var text = document.getElementById('article').value;
    if (!text.trim()) { say('Paste an article first.', true); return; }
    var body = {text: text, title: document.getElementById('title').value.trim()};
    var threshold = document.getElementById('min-confidence').value;
    if (threshold !== '') body.min_confidence = parseFloat(threshold);
    document.body.dataset.ready = '';
    say('Labelling…');
    fetch('view', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})
      .then(function (response) {
        if (response.ok) return response.text();
        return response.json().then(function (e) { throw new Error(e.error || response.statusText); },
                                    function () { throw new Error(response.status + ' ' + response.statusText); });
      })
      .then(function (html) { show(html); say(''); })
      .catch(function (error) { say('Error: ' + error.message, true); });
  });
})();
"""


def page_html() -> str:
    """The page: a form, an empty view, and the script that fills the view from POST /view."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>stance-news</title><style>{PAGE_STYLE}</style><style id="view-style"></style></head>
<body>
<form id="ask">
<h1>Label an article</h1>
<textarea id="article" placeholder="Paste a news article here" aria-label="article text" required></textarea>
<div class="row">
<label>Title <input type="text" id="title" placeholder="optional"></label>
<label>Unsure below <input type="number" id="min-confidence" min="0" max="1" step="0.05" placeholder="0.6"></label>
<button type="submit" id="label">Label</button>
<a id="download" download="stance.html" hidden>download this view</a>
<span id="status" role="status"></span>
</div>
</form>
<div id="view"></div>
<p class="hint" style="font: 12px system-ui, sans-serif; color: #5f6368">API: <a href="docs">docs</a>, <a href="health">health</a></p>
<script>{PAGE_SCRIPT}</script>
</body></html>
"""
