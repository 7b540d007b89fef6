/* The plan page's "pay by card" form: Stripe.js turns the card into a PaymentMethod in the
   browser (the card number never reaches kameng), its id goes into the form, the server
   charges it (billing.plans.services.pay_plan). A static file: the CSP allows no inline
   script. */
(function () {
  'use strict';
  var form = document.querySelector('form[data-plan-card]');
  if (!form || typeof window.Stripe !== 'function') return;
  var stripe = window.Stripe(form.getAttribute('data-publishable-key'));
  var card = stripe.elements().create('card');
  card.mount(form.querySelector('[data-card-element]'));
  var message = form.querySelector('[data-card-message]');
  var busy = false;
  form.addEventListener('submit', function (event) {
    if (form.elements.payment_method.value) return;  // the id is in: send the form
    event.preventDefault();
    if (busy) return;
    busy = true;
    stripe.createPaymentMethod({type: 'card', card: card}).then(function (result) {
      busy = false;
      if (!result || result.error || !result.paymentMethod) {
        message.textContent = (result && result.error && result.error.message) ||
          form.getAttribute('data-failed');
        return;
      }
      form.elements.payment_method.value = result.paymentMethod.id;
      form.submit();
    }, function () { busy = false; message.textContent = form.getAttribute('data-failed'); });
  });
})();
