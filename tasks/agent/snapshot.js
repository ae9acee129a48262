() => {
  const clean = (t) => (t || "").replace(/\s+/g, " ").trim();
  const visible = (el) => {
    if (!el || !el.getClientRects().length) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && style.display !== "none";
  };
  const byIds = (ids) =>
    clean(ids.split(/\s+/).map((id) => (document.getElementById(id) || {}).innerText || "").join(" "));
  const nameOf = (el) => {
    const aria = el.getAttribute("aria-label");
    if (aria) return clean(aria);
    const labelled = el.getAttribute("aria-labelledby");
    if (labelled) return byIds(labelled);
    if (el.tagName === "INPUT") return clean(el.value || el.getAttribute("title") || "");
    return clean(el.innerText || el.textContent || el.getAttribute("title") || "");
  };
  const labelOf = (el) => {
    if (el.labels && el.labels.length) {
      return clean(Array.from(el.labels).map((l) => l.innerText || l.textContent).join(" "));
    }
    const aria = el.getAttribute("aria-label");
    if (aria) return clean(aria);
    const labelled = el.getAttribute("aria-labelledby");
    if (labelled) return byIds(labelled);
    if (el.placeholder) return clean(el.placeholder);
    const fieldset = el.closest("fieldset");
    if (fieldset && el.type === "radio") {
      const legend = fieldset.querySelector("legend");
      if (legend) return clean(legend.innerText);
    }
    return clean(el.getAttribute("title") || el.name || "");
  };
  const limit = (list, n) => list.slice(0, n);
  // The card or section a value belongs to: the nearest ancestor holding a heading.
  const containers = new Map();
  const groupOf = (el) => {
    let node = el;
    for (let depth = 0; depth < 6 && node; depth++) {
      node = node.parentElement;
      if (!node || node === document.body) break;
      const h = node.querySelector("h1, h2, h3, h4, h5, h6, legend, .title, [class*=title]");
      if (h) {
        if (!containers.has(node)) containers.set(node, containers.size + 1);
        return { group: clean(h.innerText), card: containers.get(node) };
      }
    }
    return { group: "", card: 0 };
  };

  const headings = limit(
    Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6"))
      .filter(visible)
      .map((h) => ({ level: Number(h.tagName[1]), text: clean(h.innerText) }))
      .filter((h) => h.text),
    60,
  );
  // The row, card or form a control sits in: what a generic "Select" or "View" refers to.
  const around = (el) => {
    const box = el.closest("li, tr, article, form, fieldset, .card, [class*=card], [class*=account], section");
    return box ? clean(box.innerText).slice(0, 240) : "";
  };
  const links = limit(
    Array.from(document.querySelectorAll("a[href]"))
      .filter(visible)
      .map((a) => ({
        name: nameOf(a),
        href: a.href,
        download: a.hasAttribute("download"),
        context: around(a),
      }))
      .filter((a) => a.name || a.href),
    200,
  );
  const buttons = limit(
    Array.from(
      document.querySelectorAll(
        "button, input[type=submit], input[type=button], input[type=reset], [role=button]",
      ),
    )
      .filter(visible)
      .map((b) => ({
        name: nameOf(b),
        type: (b.getAttribute("type") || (b.tagName === "BUTTON" ? "submit" : "button")).toLowerCase(),
        form: b.form ? Array.from(document.forms).indexOf(b.form) : null,
        context: around(b),
      })),
    100,
  );
  const inputs = limit(
    Array.from(document.querySelectorAll("input, select, textarea"))
      .filter((el) => !["hidden", "submit", "button", "reset", "image"].includes(el.type))
      .filter((el) => visible(el) || ((el.type === "radio" || el.type === "checkbox") && el.labels && Array.from(el.labels).some(visible)))
      .map((el) => {
        const item = {
          label: labelOf(el),
          name: el.name || "",
          id: el.id || "",
          type: el.tagName === "SELECT" ? "select" : el.tagName === "TEXTAREA" ? "textarea" : (el.type || "text").toLowerCase(),
          required: !!el.required,
          autocomplete: el.getAttribute("autocomplete") || "",
          inputmode: el.getAttribute("inputmode") || "",
          form: el.form ? Array.from(document.forms).indexOf(el.form) : null,
        };
        if (el.tagName === "SELECT") {
          item.options = Array.from(el.options).map((o) => ({
            value: o.value,
            label: clean(o.label || o.text),
            selected: o.selected,
          }));
        } else if (el.type === "radio" || el.type === "checkbox") {
          item.value = el.value;
          item.checked = el.checked;
        } else if (el.type !== "password" && !el.hasAttribute("data-deck-secret")) {
          item.value = el.value;
        } else {
          item.filled = !!el.value;
        }
        return item;
      }),
    120,
  );
  const cellText = (cell) => clean(cell.innerText || cell.textContent);
  const tables = limit(
    Array.from(document.querySelectorAll("table"))
      .filter(visible)
      .map((table, index) => {
        const caption = table.caption ? clean(table.caption.innerText) : "";
        let headerRow = table.querySelector("thead tr");
        const bodyRows = Array.from(table.querySelectorAll("tr")).filter((tr) => tr !== headerRow);
        if (!headerRow && bodyRows.length && Array.from(bodyRows[0].children).every((c) => c.tagName === "TH")) {
          headerRow = bodyRows.shift();
        }
        const headers = headerRow ? Array.from(headerRow.children).map(cellText) : [];
        const rows = limit(bodyRows, 200)
          .filter((tr) => tr.children.length)
          .map((tr) => ({
            cells: Array.from(tr.children).map(cellText),
            links: Array.from(tr.querySelectorAll("a[href]")).map((a) => ({ name: nameOf(a), href: a.href })),
            buttons: Array.from(tr.querySelectorAll("button, input[type=submit]")).map((b) => nameOf(b)),
          }));
        let heading = "";
        let node = table;
        while (node && !heading) {
          let prev = node.previousElementSibling;
          while (prev && !heading) {
            if (/^H[1-6]$/.test(prev.tagName)) heading = clean(prev.innerText);
            else {
              const inner = prev.querySelector && prev.querySelector("h1, h2, h3, h4, h5, h6");
              if (inner) heading = clean(inner.innerText);
            }
            prev = prev.previousElementSibling;
          }
          node = node.parentElement;
        }
        return { index, caption, heading, headers, rows };
      }),
    20,
  );
  const pairs = [];
  for (const dl of Array.from(document.querySelectorAll("dl")).filter(visible)) {
    const { group, card } = groupOf(dl);
    let label = null;
    for (const child of Array.from(dl.querySelectorAll("dt, dd"))) {
      if (child.tagName === "DT") label = cellText(child);
      else if (label !== null) pairs.push({ label, value: cellText(child), group, card });
    }
  }
  for (const tr of Array.from(document.querySelectorAll("tr")).filter(visible)) {
    const cells = Array.from(tr.children);
    if (cells.length === 2 && cells[0].tagName === "TH" && cells[1].tagName === "TD") {
      pairs.push({ label: cellText(cells[0]), value: cellText(cells[1]), ...groupOf(tr.closest("table")) });
    }
  }
  // "Label: value" written in one element, e.g. <p><strong>Due:</strong> 12 Feb 2025</p>.
  for (const el of Array.from(document.querySelectorAll("p, li, div, span")).filter(visible)) {
    if (el.children.length > 3) continue;
    if (el.querySelector("p, div, li, table, dl, form")) continue;
    const kids = Array.from(el.children);
    if (
      kids.length === 2 &&
      kids.every((k) => !k.children.length && /^(SPAN|STRONG|B|EM|LABEL|DIV|P|SMALL)$/.test(k.tagName))
    ) {
      const label = cellText(kids[0]).replace(/:$/, "");
      const value = cellText(kids[1]);
      if (label && value && label.length <= 60) {
        pairs.push({ label, value, ...groupOf(el) });
        continue;
      }
    }
    const text = clean(el.innerText);
    const match = text.match(/^([^:]{2,60}):\s+(.{1,200})$/);
    if (match) pairs.push({ label: clean(match[1]), value: clean(match[2]), ...groupOf(el) });
  }
  const alerts = Array.from(
    document.querySelectorAll("[role=alert], .error, .errors, .errorlist, .alert, .flash, .notice, .message, .messages"),
  )
    .filter(visible)
    .map((el) => clean(el.innerText))
    .filter(Boolean);
  const main = document.querySelector("main") || document.body;
  return {
    url: location.href,
    title: document.title,
    headings,
    links,
    buttons,
    inputs,
    tables,
    pairs: limit(pairs, 300),
    alerts: limit(Array.from(new Set(alerts)), 20),
    text: clean(main ? main.innerText : "").slice(0, 6000),
  };
}
