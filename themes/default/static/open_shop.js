/* The open-shop form's live check of the address (slug): asks /open-shop/slug while the
   visitor types and says whether the name is free. The server checks again on submit.
   A static file: the Content-Security-Policy allows no inline script. */
(function () {
  'use strict';
  var form = document.querySelector('form[data-open-shop]');
  if (!form) return;
  var input = form.querySelector('input[name="slug"]');
  var status = form.querySelector('[data-slug-status]');
  var url = form.getAttribute('data-slug-url');
  if (!input || !status || !url) return;
  var timer = null, asked = '';

  function check() {
    var slug = input.value.trim().toLowerCase();
    if (!slug || slug === asked) return;
    asked = slug;
    fetch(url + '?slug=' + encodeURIComponent(slug), {headers: {'Accept': 'application/json'},
                                                       credentials: 'same-origin'})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || data.slug !== input.value.trim().toLowerCase()) return;
        status.textContent = data.message;
        status.className = 'small ' + (data.available ? 'ok' : 'error');
        input.setAttribute('aria-invalid', data.available ? 'false' : 'true');
      })
      .catch(function () { asked = ''; });
  }

  input.addEventListener('input', function () {
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  input.addEventListener('blur', check);
})();
