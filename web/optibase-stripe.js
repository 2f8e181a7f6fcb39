/*! optibase-stripe.js: hands Optibase's visitor id to Stripe as the client reference id,
 * so that a purchase can be credited to the A/B test variant the visitor saw.
 * Paste inside a <script> tag (Webflow: Site settings > Custom code > Footer code) or load it
 * with <script src>. Optional, set before this script:
 *   window.optibaseStripeConfig = { hosts: ["pay.example.com"], waitMs: 10000 };
 */
(function () {
  "use strict";

  var PARAM = "client_reference_id";
  var ATTR = "client-reference-id";
  // Stripe silently drops any other value, and the conversion with it; better to say so.
  var VALID_ID = /^[A-Za-z0-9_-]{1,200}$/;
  var LINKS = "a[href], area[href]";
  var ELEMENTS = "stripe-buy-button, stripe-pricing-table";
  // Another script that keeps resetting an href would otherwise ping-pong with our observer
  // forever; a budget per element and second stops that yet still follows a price toggle.
  var WRITES_PER_SECOND = 10;

  var config = window.optibaseStripeConfig || {};
  var waitMs = typeof config.waitMs === "number" && config.waitMs >= 0 ? config.waitMs : 10000;
  var hosts = ["buy.stripe.com", "checkout.stripe.com"];
  (Array.isArray(config.hosts) ? config.hosts : []).forEach(function (entry) {
    var host = hostOf(entry);
    if (host) hosts.push(host);
    else warn("ignoring optibaseStripeConfig.hosts entry", entry);
  });

  function warn(message, value) {
    console.warn("[optibase-stripe] " + message + ":", value);
  }

  // Owners type "pay.example.com", "Pay.Example.com/" or a full URL; the URL parser
  // normalises all of them (case, IDN) the same way it will normalise the links.
  function hostOf(entry) {
    if (typeof entry !== "string" || !entry.trim()) return null;
    var text = entry.trim();
    try {
      return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : "https://" + text).host;
    } catch (e) {
      return null;
    }
  }

  // Optibase loads async, so the id may appear after us. We poll with backoff rather than
  // trap the property with a setter on window: a configurable trap can be replaced unseen by
  // Optibase's own code, a non-configurable one makes such a redefinition throw inside their
  // script, and either way polling would be needed as a fallback. ~25 reads in 10 s cost
  // nothing and cannot interfere with Optibase.
  function whenIdKnown(callback) {
    var deadline = Date.now() + waitMs;
    var delay = 25;
    (function check() {
      var id = window.optibaseTestedUserId;
      if (id !== undefined && id !== null && id !== "") return callback(id);
      var left = deadline - Date.now();
      if (left <= 0) return; // Optibase never ran here (or is blocked): leave the page alone.
      setTimeout(check, Math.min(delay, left));
      delay = Math.min(delay * 2, 500);
    })();
  }

  // Stripe reads the name percent-decoded, so "client%5Freference%5Fid" counts too.
  function paramName(part) {
    var name = part.split("=")[0].replace(/\+/g, " ");
    try {
      return decodeURIComponent(name);
    } catch (e) {
      return name;
    }
  }

  whenIdKnown(function (id) {
    if (typeof id !== "string" || !VALID_ID.test(id)) {
      warn("not forwarding Optibase's visitor id; Stripe accepts only 1-200 letters, digits, " +
        "'-' and '_' as client_reference_id and would silently drop", id);
      return;
    }
    var writes = new WeakMap();

    function write(el, name, value) {
      var now = Date.now();
      var budget = writes.get(el);
      if (!budget || now - budget.since >= 1000) writes.set(el, (budget = { since: now, used: 0 }));
      if (budget.used++ < WRITES_PER_SECOND) el.setAttribute(name, value);
    }

    function tagLink(link) {
      var url;
      try {
        url = new URL(link.getAttribute("href"), document.baseURI);
      } catch (e) {
        return;
      }
      // Exact host match: a substring test would also tag "evil.example/?next=https://buy...".
      if (url.protocol !== "https:" || hosts.indexOf(url.host) < 0) return;
      var before = url.href;
      var pair = PARAM + "=" + id; // VALID_ID needs no escaping.
      var parts = [];
      var replaced = false;
      // Edit the query by hand: URLSearchParams would re-encode every other parameter.
      // The id takes the place of the first old one; duplicates go, as Stripe's pick is unknown.
      url.search.slice(1).split("&").forEach(function (part) {
        var ours = paramName(part) === PARAM;
        if (part && !ours) parts.push(part);
        else if (ours && !replaced) {
          parts.push(pair);
          replaced = true;
        }
      });
      if (!replaced) parts.push(pair);
      url.search = parts.join("&");
      // Unchanged when the id is already there, which also ends the echo of our own write.
      if (url.href !== before) write(link, "href", url.href);
    }

    function tag(el) {
      if (!el.matches(ELEMENTS)) tagLink(el);
      else if (el.getAttribute(ATTR) !== id) write(el, ATTR, id);
    }

    function scan(node) {
      if (node.nodeType !== 1) return;
      if (node.matches(LINKS + ", " + ELEMENTS)) tag(node);
      node.querySelectorAll(LINKS + ", " + ELEMENTS).forEach(tag);
    }

    scan(document.documentElement);
    // Webflow interactions, CMS lists and other scripts add or change links after load.
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        if (record.type === "childList") record.addedNodes.forEach(scan);
        else if (record.target.matches(LINKS)) tagLink(record.target);
      });
    }).observe(document.documentElement, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["href"],
    });
  });
})();
