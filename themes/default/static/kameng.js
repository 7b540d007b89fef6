/* The storefront's behaviour, kept out of the pages so the Content-Security-Policy needs
   no inline script. Each part wakes up on data attributes a template sets:
   [data-poll-url]          the order page reloads when the order's status changes
   .copy-btn                copies the <code> next to it
   #stripe-form             mounts Stripe's payment element (Stripe.js is loaded before)
   form[data-autosubmit]    posts itself at once (the epay hand-over)
   [data-reload-after]      reloads the page after that many milliseconds */
(function () {
  'use strict';

  function pollOrder() {
    var box = document.querySelector('[data-poll-url]');
    if (!box) return;
    var url = box.getAttribute('data-poll-url'), was = box.getAttribute('data-status'), tries = 0;
    function tick() {
      tries += 1;
      fetch(url, {headers: {'Accept': 'application/json'}, credentials: 'same-origin'})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.status !== was) { window.location.reload(); return; }
          if (tries < 400) setTimeout(tick, tries < 20 ? 2000 : 5000);
        })
        .catch(function () { if (tries < 400) setTimeout(tick, 5000); });
    }
    setTimeout(tick, 2000);
  }

  function fallbackCopy(text) {
    var area = document.createElement('textarea');
    area.value = text; area.setAttribute('readonly', ''); area.style.position = 'fixed'; area.style.opacity = '0';
    document.body.appendChild(area); area.select();
    try { document.execCommand('copy'); } finally { document.body.removeChild(area); }
  }

  function copyButtons() {
    document.querySelectorAll('.copy-btn').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var text = btn.parentNode.querySelector('code').textContent;
        var done = function () {
          var label = btn.textContent;
          btn.textContent = btn.getAttribute('data-copied'); btn.classList.add('copied');
          setTimeout(function () { btn.textContent = label; btn.classList.remove('copied'); }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
        } else { fallbackCopy(text); done(); }
      });
    });
  }

  function stripeForm() {
    var form = document.getElementById('stripe-form');
    if (!form || typeof window.Stripe !== 'function') return;
    var message = document.getElementById('pay-message');
    var button = document.getElementById('pay-button');
    var stripe = window.Stripe(form.getAttribute('data-publishable-key'));
    var elements = stripe.elements({clientSecret: form.getAttribute('data-client-secret')});
    elements.create('payment').mount('#payment-element');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      button.disabled = true; message.textContent = '';
      // the order (or top-up) is paid only by Stripe's signed webhook; the return page waits for it
      stripe.confirmPayment({elements: elements, confirmParams: {return_url: form.getAttribute('data-return-url')}})
        .then(function (result) {
          if (result && result.error) { message.textContent = result.error.message || ''; button.disabled = false; }
        });
    });
  }

  function autosubmit() {
    var form = document.querySelector('form[data-autosubmit]');
    if (form) form.submit();
  }

  function reloadLater() {
    var el = document.querySelector('[data-reload-after]');
    if (el) setTimeout(function () { window.location.reload(); }, parseInt(el.getAttribute('data-reload-after'), 10) || 3000);
  }

  function start() { pollOrder(); copyButtons(); stripeForm(); autosubmit(); reloadLater(); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
