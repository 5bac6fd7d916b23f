// Charts of the staff front ends, drawn with the vendored Chart.js from JSON endpoints.
// Each <canvas data-chart="timeline|budget|lift" data-chart-url="..."> fetches its data;
// every chart has a table or sentence next to it that says the same in text.
(function () {
  "use strict";
  var BLUE = "#0b5cad", GREEN = "#146c2e", ORANGE = "#b35c00", GREY = "#4f5b67";
  var cache = {};

  function load(url) {
    if (!cache[url]) {
      cache[url] = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
    }
    return cache[url];
  }
  function major(amount, exponent) { return amount / Math.pow(10, exponent); }
  function money(value, currency) {
    return new Intl.NumberFormat(document.documentElement.lang || "en", { style: "currency", currency: currency }).format(value);
  }

  var draw = {
    timeline: function (canvas, data) {
      var e = data.exponent;
      return new Chart(canvas, {
        data: {
          labels: data.days.map(function (d) { return (data.by_week ? "Week of " : "") + d.day; }),
          datasets: [
            { type: "bar", label: "Spend", data: data.days.map(function (d) { return major(d.spend_amount, e); }), backgroundColor: BLUE, yAxisID: "money", maxBarThickness: 24 },
            { type: "bar", label: "Cashback", data: data.days.map(function (d) { return major(d.cashback_amount, e); }), backgroundColor: GREEN, yAxisID: "money", maxBarThickness: 24 },
            { type: "line", label: "Purchases", data: data.days.map(function (d) { return d.qualified; }), borderColor: ORANGE, backgroundColor: ORANGE, yAxisID: "count", tension: 0, pointRadius: 2 }
          ]
        },
        options: {
          maintainAspectRatio: false, animation: false,
          scales: {
            money: { position: "left", beginAtZero: true, ticks: { callback: function (v) { return money(v, data.currency); } } },
            count: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, ticks: { precision: 0 } }
          }
        }
      });
    },
    budget: function (canvas, data) {
      var e = data.exponent, b = data.budget;
      return new Chart(canvas, {
        type: "line",
        data: {
          labels: b.burn_down.map(function (d) { return d.day; }),
          datasets: [
            { label: "Budget left", data: b.burn_down.map(function (d) { return major(d.left_amount, e); }), borderColor: BLUE, backgroundColor: "rgba(11,92,173,0.12)", fill: true, stepped: true }
          ]
        },
        options: {
          maintainAspectRatio: false, animation: false,
          scales: { y: { beginAtZero: true, max: major(b.total_amount || 0, e), ticks: { callback: function (v) { return money(v, data.currency); } } } }
        }
      });
    },
    lift: function (canvas, data) {
      // One row per offer: the 95% interval as a floating bar, the estimate as a point,
      // zero drawn darker so "does the interval cross zero" is seen at a glance.
      var rows = data.lifts || [];
      if (!rows.length) return null;
      var e = data.exponent;
      var low = rows.map(function (r) { return major(r.ci_low, e); });
      var high = rows.map(function (r) { return major(r.ci_high, e); });
      var mid = rows.map(function (r) { return major(r.lift_per_member, e); });
      var labels = rows.map(function (r) { return r.label; });
      var span = Math.max.apply(null, low.concat(high).map(Math.abs)) * 1.15 || 1;
      canvas.parentNode.style.height = Math.max(150, 46 * rows.length + 70) + "px";
      return new Chart(canvas, {
        data: {
          labels: labels,
          datasets: [
            { type: "bar", label: "95% interval", data: rows.map(function (_, i) { return [low[i], high[i]]; }), backgroundColor: "rgba(11,92,173,0.35)", borderColor: BLUE, borderWidth: 1, barPercentage: 0.55 },
            { type: "scatter", label: "Estimate", data: rows.map(function (_, i) { return { x: mid[i], y: labels[i] }; }), backgroundColor: "#10314f", pointRadius: 7, pointStyle: "rectRot" }
          ]
        },
        options: {
          indexAxis: "y", maintainAspectRatio: false, animation: false,
          scales: {
            x: { min: -span, max: span, title: { display: true, text: "Extra spend per member" }, ticks: { callback: function (v) { return money(v, data.currency); } },
                 grid: { color: function (ctx) { return ctx.tick && ctx.tick.value === 0 ? GREY : "rgba(0,0,0,0.08)"; }, lineWidth: function (ctx) { return ctx.tick && ctx.tick.value === 0 ? 2 : 1; } } },
            y: { type: "category" }
          },
          plugins: { tooltip: { callbacks: { label: function (ctx) {
            var i = ctx.dataIndex;
            return ctx.dataset.type === "bar" ? "95% interval: " + money(low[i], data.currency) + " to " + money(high[i], data.currency) : "Estimate: " + money(mid[i], data.currency);
          } } } }
        }
      });
    }
  };

  function start() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var kind = canvas.dataset.chart, url = canvas.dataset.chartUrl;
      load(url).then(function (data) {
        var key = canvas.dataset.chartKey;
        var source = key ? Object.assign({ currency: data.currency, exponent: data.exponent }, data[key]) : data;
        var chart = draw[kind] && draw[kind](canvas, source);
        canvas.dataset.drawn = chart ? "yes" : "empty";
      }).catch(function () { canvas.dataset.drawn = "failed"; });
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
