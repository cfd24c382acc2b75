// The admin dashboard: one self-contained HTML page (inline CSS and JS, no CDN, no web fonts)
// served at GET / of the admin listener. The page is the file proxy/admin/assets/dashboard.html,
// compiled into the binary at build time (slotwise_embed_file in the root CMakeLists.txt), so the
// binary needs no installed files; edit the HTML file, not generated code. Layout target:
// 1366x768 laptop screen (KPI row, then slot map | backends + ops/s history).
//
// The page is static; all data comes from the browser polling, every 2 s:
//   /metrics       Prometheus text, parsed in JS: ops/s (rate of slotwise_requests_total),
//                  p50/p99 from slotwise_request_duration_seconds buckets, error and redirect
//                  rates, client connections, slot map version/coverage
//   /api/slots     slot ranges → owning master: a 128x128 canvas, one pixel per slot
//   /api/backends  node table (address, role, master, slots, health)
//
// Admin token: when `admin.token` is set, open the page as `http://host:port/#token=SECRET`
// (the fragment is never sent to the server nor logged) or `/?token=SECRET`. The script keeps the
// token in sessionStorage (per tab), removes it from the address bar, and sends it as
// `Authorization: Bearer SECRET` on every poll. The page itself must then be reachable without
// the header, i.e. the "/" route must be open in admin_http.cc; the page holds no data.
//
// Hooks for automated checks (set by the script on <body> and the canvas):
//   body[data-js-errors]      number of uncaught errors / unhandled rejections (0 when healthy),
//   body[data-last-error]     message of the last one,
//   body[data-refreshes]      completed refresh cycles, body[data-fetch-errors] failed fetches,
//   #ops[data-value]          the last ops/s figure as a plain number,
//   #slotmap[data-slots-drawn] number of covered slots painted on the canvas.
#pragma once

#include <string_view>

namespace slotwise::proxy {

// @return the complete HTML document (UTF-8): the bytes of proxy/admin/assets/dashboard.html,
// unchanged. The view refers to an array with static storage duration: valid for the life of
// the process, never empty. Defined in the generated build/generated/*dashboard_html.cc.
std::string_view dashboardHtml();

}  // namespace slotwise::proxy
