// The owner console: the read API and the owner commands, with the tenant's API key, updated live
// from the notification stream (and a short poll for what no notification announces, like
// delivery receipts). No framework, no build step; every value is inserted as text.
"use strict";

const $ = (selector) => document.querySelector(selector);
let key = sessionStorage.getItem("souk.key");
let streaming = null;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(answer.reason || `${method} ${path}: ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return answer;
}

function showError(error) {
  const box = $("#error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function draftCard(reply) {
  const text = el("textarea", { class: "draft-text" }, reply.ai_response || "");
  const path = `/v1/conversations/${encodeURIComponent(reply.conversation_id)}/replies/${encodeURIComponent(reply.reply_id)}`;
  const act = (verb, body) => async () => {
    try {
      await api("POST", `${path}/${verb}`, body && body());
      refresh();
    } catch (e) {
      showError(e);
    }
  };
  return el(
    "li",
    { dataset: { replyId: reply.reply_id } },
    el("div", {}, el("strong", {}, "Customer: "), reply.content || "(no text)"),
    el("div", { class: "hint" }, `confidence ${reply.confidence_score ?? "?"} — ${reply.reason || ""}`),
    text,
    el("div", {},
      el("button", { class: "approve", onclick: act("approve") }, "Approve"),
      el("button", { class: "edit", onclick: act("edit", () => ({ text: text.value })) }, "Send edited"),
      el("button", { class: "reject", onclick: act("reject") }, "Reject")),
  );
}

function orderCard(order) {
  const act = (verb) => async () => {
    try {
      await api("POST", `/v1/orders/${encodeURIComponent(order.order_id)}/${verb}`, {});
      refresh();
    } catch (e) {
      showError(e);
    }
  };
  return el("li", { dataset: { orderId: order.order_id } },
    `${order.order_id} — ${order.customer} — ${order.subtotal ?? ""} (${order.active_lines} lines) `,
    el("button", { class: "approve", onclick: act("approve") }, "Approve"),
    el("button", { class: "reject", onclick: act("reject") }, "Reject"));
}

// Re-renders a list only when its content changed, so a textarea being edited keeps its text.
function render(container, items, keyOf, make) {
  const signature = JSON.stringify(items.map(keyOf));
  if (container.dataset.signature === signature) return;
  container.dataset.signature = signature;
  container.replaceChildren(...items.map(make));
}

async function refresh() {
  try {
    const [inbox, escalated, replies, feed, low] = await Promise.all([
      api("GET", "/v1/conversations"),
      api("GET", "/v1/replies?status=escalated"),
      api("GET", "/v1/replies?limit=50"),
      api("GET", "/v1/notifications?limit=20"),
      api("GET", "/v1/inventory/products?low_stock=true&limit=20"),
    ]);
    render($("#drafts"), escalated.replies, (r) => r.reply_id, draftCard);
    render($("#inbox tbody"), inbox.conversations, (c) => [c.conversation_id, c.status, c.last_confidence, c.last_message, c.unread_count], (c) =>
      el("tr", { class: c.status, dataset: { conversationId: c.conversation_id } },
        el("td", {}, c.customer_name || c.customer_id || c.conversation_id), el("td", {}, c.platform),
        el("td", { class: "status" }, c.status), el("td", {}, c.last_confidence ?? ""),
        el("td", {}, c.last_message || ""), el("td", {}, String(c.unread_count))));
    render($("#replies"), replies.replies.filter((r) => r.sent_text || r.ai_response), (r) => [r.reply_id, r.status], (r) =>
      el("li", { dataset: { replyId: r.reply_id } }, el("span", { class: "status" }, r.status), " — ", r.sent_text || r.ai_response || ""));
    render($("#notifications"), feed.notifications, (n) => [n.notification_id, n.status], (n) =>
      el("li", { class: n.priority, dataset: { notificationId: n.notification_id } }, `${n.title}`, n.preview ? ` — ${n.preview}` : ""));
    render($("#low-stock"), low.products, (p) => [p.id, p.total_stock, p.availability], (p) =>
      el("li", {}, `${p.name}: ${p.availability.replace("_", " ")} (${p.total_stock} left)`));
    const orders = await api("GET", "/v1/orders/pending-approval").catch(() => ({ orders: [] }));
    render($("#orders"), orders.orders, (o) => o.order_id, orderCard);
    $("#orders-view").hidden = orders.orders.length === 0;
    showError(null);
  } catch (e) {
    if (e.status === 401) return logout();
    showError(e);
  }
}

// The live feed: fetch (EventSource cannot send the key) read as a stream of SSE frames; every
// event refreshes the views. Resumes after a drop from the last event id.
async function stream() {
  let last = null;
  for (;;) {
    try {
      const headers = { Authorization: `Bearer ${key}`, ...(last ? { "Last-Event-ID": last } : {}) };
      const response = await fetch("/v1/notifications/stream", { headers });
      if (!response.ok) throw new Error(`stream: ${response.status}`);
      $("#live").textContent = "live";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = frame.split("\n").find((line) => line.startsWith("id:"));
          if (id) last = id.slice(3).trim();
          if (frame.split("\n").some((line) => line.startsWith("data:"))) refresh();
        }
      }
    } catch (e) {
      $("#live").textContent = "reconnecting";
    }
    if (!key) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function start() {
  $("#login-view").hidden = true;
  $("#console").hidden = false;
  $("#logout").hidden = false;
  refresh();
  if (!streaming) streaming = stream();
  setInterval(refresh, 2000);
}

function logout() {
  sessionStorage.removeItem("souk.key");
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#logout").addEventListener("click", logout);
  $("#login").addEventListener("submit", async (event) => {
    event.preventDefault();
    key = $("#api-key").value.trim();
    try {
      await api("GET", "/v1/conversations?limit=1");
      sessionStorage.setItem("souk.key", key);
      $("#login-error").hidden = true;
      start();
    } catch (e) {
      $("#login-error").textContent = e.status === 401 ? "That API key is not valid." : String(e.message);
      $("#login-error").hidden = false;
    }
  });
  if (key) start();
});
