// django-import-export's "Select all" box on the export page, bound from a
// file (templates/admin/import_export/export.html drops its inline handler,
// which the Content-Security-Policy blocks).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input.select-toggle").forEach((box) => {
    box.addEventListener("change", (event) => window.onSelectToggleChange(event));
  });
});
