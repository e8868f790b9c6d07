// The search box of a searchable list filter (templates/admin/searchable_filter.html):
// typing narrows the list to the choices with a word starting with what is typed
// (accents and case aside: "69", "rhone", "2a"); Enter in the box applies the
// first one left; a click (or Enter) on a choice applies it. Arrow keys move
// through the list without applying each choice they pass.
(function () {
  "use strict";

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }

  function matches(option, typed) {
    if (!typed) {
      return true;
    }
    var text = fold(option.text);
    return text.indexOf(typed) === 0 || text.split(/[\s\-'’–]+/).some(function (word) {
      return word.indexOf(typed) === 0;
    });
  }

  function apply(option) {
    if (option) {
      window.location.href = option.value; // "?…", the stock filter's link
    }
  }

  function setUp(box) {
    var search = box.querySelector(".rdz-searchable-filter-search");
    var select = box.querySelector(".rdz-searchable-filter-choices");
    var options = Array.prototype.slice.call(select.options);
    var browsing = false;

    function visible() {
      return options.filter(function (option) { return !option.hidden; });
    }

    search.addEventListener("input", function () {
      var typed = fold(search.value);
      options.forEach(function (option) { option.hidden = !matches(option, typed); });
    });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // not the changelist's search form
        apply(visible()[0]);
      } else if (event.key === "ArrowDown" && visible().length) {
        event.preventDefault();
        browsing = true;
        visible()[0].selected = true;
        select.focus();
      }
    });
    select.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        apply(select.options[select.selectedIndex]);
      } else if (/^(Arrow|Page|Home|End)/.test(event.key) || event.key.length === 1) {
        browsing = true; // the keys that move the selection (type-ahead included)
      }
    });
    select.addEventListener("mousedown", function () {
      browsing = false;
    });
    select.addEventListener("change", function () {
      if (browsing) {
        browsing = false;
        return;
      }
      apply(select.options[select.selectedIndex]);
    });
  }

  function setUpAll() {
    document.querySelectorAll(".rdz-searchable-filter").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
