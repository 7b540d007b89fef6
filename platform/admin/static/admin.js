/* The back office's behaviour, kept out of the pages so the Content-Security-Policy needs
   no inline script. Each part wakes up on what a page carries:
   #progress[data-url]            an import batch's progress, polled until it ends
   #markup-form[data-preview-url] the markup rule preview, refreshed as the form changes
   [data-confirm]                 a button that asks before it submits
   input[data-mirror]             a colour picker that writes into the text field after it
   #buyer-fields [name=add_field] adds an empty field row in place (without it the button
                                  posts and the server adds the row) */
(function () {
  'use strict';

  function batchProgress() {
    var box = document.getElementById('progress');
    if (!box || !box.dataset.url || box.dataset.status === 'done' || box.dataset.status === 'failed') return;
    function set(name, value) { var el = box.querySelector('[data-field="' + name + '"]'); if (el) el.textContent = value; }
    function poll() {
      fetch(box.dataset.url, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (p) {
        set('status_label', p.status_label || p.status); set('done', p.done); set('total', p.total);
        set('imported', p.imported); set('duplicates', p.duplicates); set('error', p.error || '');
        var bar = box.querySelector('progress'); bar.max = p.total || 1; bar.value = p.done;
        if (p.status === 'done' || p.status === 'failed') { window.location.reload(); return; }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 500);
  }

  function money(minor, currency) {
    var exp = currency === 'JPY' || currency === 'KRW' ? 0 : 2;
    return (minor / Math.pow(10, exp)).toFixed(exp);
  }

  function markupPreview() {
    var form = document.getElementById('markup-form');
    if (!form || !form.dataset.previewUrl) return;
    var body = document.querySelector('#preview tbody');
    var errorBox = document.getElementById('preview-error');
    var timer = null;
    function show(rows) {
      body.textContent = '';
      rows.forEach(function (r) {
        var tr = document.createElement('tr');
        [r.sku, r.name, money(r.cost, r.currency), money(r.price, r.currency),
         money(r.new_price, r.currency), money(r.new_wholesale, r.currency),
         money(r.new_margin, r.currency)].forEach(function (text) {
          var td = document.createElement('td');
          td.textContent = text;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    }
    function refresh() {
      var params = new URLSearchParams(new FormData(form));
      params.delete('csrf_token');
      if (!params.get('value')) { return; }
      fetch(form.dataset.previewUrl + '?' + params.toString(), {credentials: 'same-origin'})
        .then(function (resp) { return resp.json().then(function (data) { return [resp.ok, data]; }); })
        .then(function (res) {
          errorBox.textContent = res[0] ? '' : res[1].title;
          if (res[0]) { show(res[1].rows); }
        });
    }
    form.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
    form.addEventListener('change', refresh);
  }

  function confirmButtons() {
    document.querySelectorAll('[data-confirm]').forEach(function (el) {
      el.addEventListener('click', function (event) {
        if (!window.confirm(el.getAttribute('data-confirm'))) event.preventDefault();
      });
    });
  }

  function colourMirrors() {
    document.querySelectorAll('input[data-mirror]').forEach(function (el) {
      el.addEventListener('input', function () { el.nextElementSibling.value = el.value; });
    });
  }

  function fieldRows() {
    var box = document.getElementById('buyer-fields');
    if (!box) return;
    var button = box.querySelector('button[name=add_field]');
    var body = box.querySelector('tbody');
    if (!button || !body) return;
    button.addEventListener('click', function (event) {
      var rows = body.querySelectorAll('tr[data-field-row]');
      if (!rows.length) return;           // nothing to copy: let the server add one
      event.preventDefault();
      var next = 0;                       // one past the highest index on the page
      body.querySelectorAll('[name^="fields-"]').forEach(function (el) {
        var n = parseInt(el.name.split('-')[1], 10);
        if (n >= next) next = n + 1;
      });
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll('input, select').forEach(function (el) {
        ['name', 'id'].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/^fields-\d+-/, 'fields-' + next + '-'));
        });
        if (el.type === 'checkbox') el.checked = el.name.slice(-9) === '-required';
        else if (el.tagName === 'SELECT') el.selectedIndex = 0;
        else el.value = '';
      });
      body.appendChild(copy);
      var first = copy.querySelector('input');
      if (first) first.focus();
    });
  }

  function start() { batchProgress(); markupPreview(); confirmButtons(); colourMirrors(); fieldRows(); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
