/* loganalyze report: a small canvas line chart written for this page (no library, no network).
 * Data comes from the JSON block #report-data; every name from the logs is put into the page
 * with textContent, never as HTML. */
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const RUNS = {};
  const CHARTS = [];
  const FOLDS = [];
  let smoothing = 0.6;
  const theme = {};

  function readTheme() {
    const style = getComputedStyle(document.documentElement);
    const v = (name) => style.getPropertyValue(name).trim();
    for (const k of ["fg", "muted", "line", "grid", "panel", "bg", "error", "warning", "info", "epoch", "select"]) {
      theme[k] = v("--" + k);
    }
    theme.colors = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => v("--c" + i));
  }

  // ------------------------------------------------------------------ numbers

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string") return v;
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e5 || a < 1e-3) return v.toExponential(3).replace(/\.?0+e/, "e");
    return String(parseFloat(v.toPrecision(5)));
  }

  function fmtStep(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return parseFloat((v / 1e6).toPrecision(4)) + "M";
    if (a >= 1e4) return parseFloat((v / 1e3).toPrecision(4)) + "k";
    return String(Math.round(v * 100) / 100);
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function linearTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const step = niceStep(hi - lo, count);
    const first = Math.ceil(lo / step);
    const n = Math.floor(hi / step + 1e-9) - first;
    if (!(step > 0) || !(n >= 0) || n > 100) return [lo, hi];
    const out = [];
    for (let i = 0; i <= n; i++) out.push(first + i === 0 ? 0 : (first + i) * step);
    return out;
  }

  // Index of the first element of sorted `a` that is >= x.
  function lowerBound(a, x) {
    let lo = 0, hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // TensorBoard's smoothing: an exponential moving average, debiased so the start is not pulled to 0.
  function ema(values, w) {
    if (w <= 0) return values;
    const out = new Array(values.length);
    let last = 0, n = 0;
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (x === null || !isFinite(x)) { out[i] = x; continue; }
      last = last * w + (1 - w) * x;
      n += 1;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  }

  function smoothed(series) {
    if (series._w !== smoothing) {
      // a decimated series is smoothed from its bucket means, with the weight of k raw points each
      series._sv = series.m ? ema(series.m, Math.pow(smoothing, series.k)) : ema(series.v, smoothing);
      series._w = smoothing;
    }
    return series._sv;
  }

  function severityColor(sev) { return theme[sev] || theme.muted; }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ------------------------------------------------------------------ runs

  for (const run of DATA.runs) {
    let lo = Infinity, hi = -Infinity;
    for (const tag in run.series) {
      const s = run.series[tag];
      if (s.s.length) { lo = Math.min(lo, s.s[0]); hi = Math.max(hi, s.s[s.s.length - 1]); }
      for (const g of s.nf) { lo = Math.min(lo, g[0]); hi = Math.max(hi, g[1]); }
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi === lo) { lo -= 1; hi += 1; }
    run.domain = [lo, hi];
    run.view = null;
    run.charts = [];
    run.valTags = new Set(run.val_tags);
    RUNS[run.id] = run;
  }

  function setView(run, view) {
    const [d0, d1] = run.domain;
    if (view) {
      let [a, b] = view;
      if (b - a < 2) { const c = (a + b) / 2; a = c - 1; b = c + 1; }
      if (b - a >= d1 - d0) view = null;
      else {
        if (a < d0) { b += d0 - a; a = d0; }
        if (b > d1) { a -= b - d1; b = d1; }
        view = [a, b];
      }
    }
    run.view = view;
    for (const c of run.charts) c.draw();
  }

  // ------------------------------------------------------------------ the line chart

  const PAD = { left: 64, right: 12, top: 16, bottom: 24, lane: 6 };
  const MAX_LANES = 6;

  class Chart {
    constructor(canvas, run, tags) {
      this.canvas = canvas;
      this.run = run;
      this.tags = tags.filter((t) => run.series[t]);
      this.log = false;
      this.hidden = new Set();
      this.hover = null;
      this.drag = null;
      this.findings = run.findings.filter((f) => f.tags.some((t) => this.tags.includes(t)));
      this.color = {};
      this.tags.forEach((t, i) => { this.color[t] = i % 8; });
      canvas._chart = this;
      canvas.dataset.log = "0";
      this.listen();
    }

    get xRange() { return this.run.view || this.run.domain; }

    layout() {
      const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
      if (!w || !h) return null;
      const dpr = window.devicePixelRatio || 1;
      const W = Math.round(w * dpr), H = Math.round(h * dpr);
      if (this.canvas.width !== W || this.canvas.height !== H) { this.canvas.width = W; this.canvas.height = H; }
      const lanes = Math.min(this.findings.length, MAX_LANES);
      return {
        w, h, dpr,
        left: PAD.left, right: w - PAD.right, top: PAD.top,
        bottom: h - PAD.bottom - lanes * PAD.lane,
        laneTop: h - PAD.bottom - lanes * PAD.lane + 3,
      };
    }

    visible() { return this.tags.filter((t) => !this.hidden.has(t)); }

    // Start on a log axis when every value is positive and they span more than three decades.
    wantsLog() {
      let lo = Infinity, hi = -Infinity;
      for (const t of this.tags) {
        for (const v of this.run.series[t].v) {
          if (v === null) continue;
          if (v <= 0) return false;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      return hi / lo > 1e3;
    }

    // The y range of what is visible in the x range, in plotted units (log10 when log).
    yRange(x0, x1) {
      let lo = Infinity, hi = -Infinity;
      for (const t of this.visible()) {
        const s = this.run.series[t];
        const i0 = lowerBound(s.s, x0), i1 = lowerBound(s.s, x1 + 1e-9);
        const lists = smoothing > 0 ? [s.v, smoothed(s)] : [s.v];
        for (const vals of lists) {
          for (let i = i0; i < i1; i++) {
            const v = this.ty(vals[i]);
            if (v === null) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
        }
      }
      for (const t of this.visible()) {
        for (const b of (this.run.baseline || {})[t] || []) {
          for (let i = 0; i < b.s.length; i++) {
            const v = this.ty(b.v[i]);
            if (v === null || b.s[i] < x0 || b.s[i] > x1) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
        }
      }
      if (!isFinite(lo)) return [0, 1];
      if (hi - lo <= Math.abs(lo) * 1e-9) { const d = Math.abs(lo) * 0.1 || 0.5; lo -= d; hi += d; }
      const pad = (hi - lo) * 0.05;
      return [lo - pad, hi + pad];
    }

    ty(v) {
      if (v === null || v === undefined || !isFinite(v)) return null;
      if (this.log) return v > 0 ? Math.log10(v) : null;
      return v;
    }

    draw() {
      const L = this.layout();
      if (!L) return;
      this.L = L;
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(L.dpr, 0, 0, L.dpr, 0, 0);
      ctx.clearRect(0, 0, L.w, L.h);
      const [x0, x1] = this.xRange;
      const [y0, y1] = this.yRange(x0, x1);
      this.y = [y0, y1];
      const sx = (x) => L.left + (x - x0) / (x1 - x0) * (L.right - L.left);
      const sy = (y) => L.bottom - (y - y0) / (y1 - y0) * (L.bottom - L.top);
      this.sx = sx;
      ctx.font = "11px system-ui, sans-serif";
      ctx.lineWidth = 1;

      // grid and tick labels
      ctx.strokeStyle = theme.grid;
      ctx.fillStyle = theme.muted;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      for (const t of this.yTicks(y0, y1)) {
        const y = Math.round(sy(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(L.left, y); ctx.lineTo(L.right, y); ctx.stroke();
        ctx.fillText(fmt(this.log ? Math.pow(10, t) : t), L.left - 5, y);
      }
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      const xt = linearTicks(x0, x1, Math.max(2, Math.floor((L.right - L.left) / 90)));
      for (const t of xt) {
        const x = Math.round(sx(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, L.top); ctx.lineTo(x, L.bottom); ctx.stroke();
        const label = fmtStep(t), half = ctx.measureText(label).width / 2;
        ctx.fillText(label, Math.min(Math.max(x, half + 2), L.w - half - 2), L.h - PAD.bottom + 6);
      }

      ctx.save();
      ctx.beginPath();
      ctx.rect(L.left, L.top - 14, L.right - L.left, L.bottom - L.top + 14);
      ctx.clip();

      // finding ranges: translucent bands (at least 2 px wide); a range over most of the run would
      // only tint everything, so that one is left to the bar under the plot
      const most = 0.8 * (this.run.domain[1] - this.run.domain[0]);
      for (const f of this.findings) {
        const ranges = (f.ranges.length ? f.ranges : [f.step_range]).filter(([a, b]) => b - a < most);
        ctx.fillStyle = severityColor(f.severity);
        for (const [a, b] of ranges) {
          if (b < x0 || a > x1) continue;
          const xa = sx(a), xb = sx(b);
          ctx.globalAlpha = 0.07;
          ctx.fillRect(Math.min(xa, xb - 1), L.top, Math.max(2, xb - xa), L.bottom - L.top);
          ctx.globalAlpha = 0.45;
          ctx.fillRect(Math.round(xa), L.top, 1, L.bottom - L.top);
          if (xb - xa >= 2) ctx.fillRect(Math.round(xb) - 1, L.top, 1, L.bottom - L.top);
        }
      }
      ctx.globalAlpha = 1;

      // epoch boundaries: dashed, thinned out when they would be closer than 6 px
      const starts = this.run.epochs;
      if (starts.length) {
        const i0 = lowerBound(starts, x0), i1 = lowerBound(starts, x1 + 1e-9);
        const gap = (L.right - L.left) / (x1 - x0) * (i1 - i0 > 1 ? (starts[i1 - 1] - starts[i0]) / (i1 - i0 - 1) : Infinity);
        ctx.strokeStyle = theme.epoch;
        ctx.globalAlpha = 0.7;
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        for (let i = i0; i < i1 && gap >= 5; i++) {  // denser than 5 px they hide the curve: zoom in to see them
          const x = Math.round(sx(starts[i])) + 0.5;
          ctx.moveTo(x, L.top); ctx.lineTo(x, L.bottom);
        }
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.globalAlpha = 1;
      }

      // the baseline's curves (a comparison), muted, behind the new ones
      const baseline = this.run.baseline || {};
      for (const t of this.visible()) {
        for (const b of baseline[t] || []) {
          ctx.strokeStyle = theme.muted;
          ctx.globalAlpha = 0.5;
          ctx.lineWidth = 2.5;
          ctx.beginPath();
          let pen = false;
          for (let i = 0; i < b.s.length; i++) {
            const y = this.ty(b.v[i]);
            if (y === null || b.s[i] < x0 || b.s[i] > x1) { pen = false; continue; }
            if (pen) ctx.lineTo(sx(b.s[i]), sy(y)); else ctx.moveTo(sx(b.s[i]), sy(y));
            pen = true;
          }
          ctx.stroke();
        }
      }
      ctx.globalAlpha = 1;
      ctx.lineWidth = 1;

      // the curves: raw (faint when smoothing) and smoothed
      let drawn = 0;
      for (const t of this.visible()) {
        const s = this.run.series[t];
        const color = theme.colors[this.color[t]];
        const dashed = this.run.valTags.has(t);
        const i0 = Math.max(0, lowerBound(s.s, x0) - 1);
        const i1 = Math.min(s.s.length, lowerBound(s.s, x1 + 1e-9) + 1);
        const layers = smoothing > 0 ? [[s.v, 0.25, 1], [smoothed(s), 1, 1.6]] : [[s.v, 1, 1.4]];
        for (const [vals, alpha, width] of layers) {
          ctx.strokeStyle = color;
          ctx.globalAlpha = alpha;
          ctx.lineWidth = width;
          ctx.setLineDash(dashed ? [6, 3] : []);
          ctx.beginPath();
          let pen = false;
          for (let i = i0; i < i1; i++) {
            const y = this.ty(vals[i]);
            if (y === null) { pen = false; continue; }
            const X = sx(s.s[i]), Y = sy(y);
            if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
            pen = true;
            drawn += 1;
          }
          ctx.stroke();
          if (i1 - i0 <= 60 && vals === s.v) {
            ctx.globalAlpha = 1;
            ctx.fillStyle = color;
            for (let i = i0; i < i1; i++) {
              const y = this.ty(vals[i]);
              if (y === null) continue;
              ctx.beginPath(); ctx.arc(sx(s.s[i]), sy(y), 2.2, 0, 2 * Math.PI); ctx.fill();
            }
          }
        }
        ctx.globalAlpha = 1;
        ctx.setLineDash([]);
        ctx.lineWidth = 1;

        // non-finite points: a marker (and a bar over a burst) along the top edge
        ctx.fillStyle = theme.error;
        for (const [a, b] of s.nf) {
          if (b < x0 || a > x1) continue;
          const xa = sx(a), xb = sx(b);
          if (xb - xa > 2) ctx.fillRect(xa, L.top - 4, xb - xa, 3);
          const xm = Math.min(Math.max(xa, L.left + 5), L.right - 5);  // keep the whole marker inside
          ctx.beginPath();
          ctx.moveTo(xm - 5, L.top - 12); ctx.lineTo(xm + 5, L.top - 12); ctx.lineTo(xm, L.top - 3);
          ctx.closePath(); ctx.fill();
        }
      }
      ctx.restore();
      if (!drawn) {
        ctx.fillStyle = theme.muted;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(this.log ? "no positive finite values in view" : "no finite values in view",
          (L.left + L.right) / 2, (L.top + L.bottom) / 2);
      }

      // finding lanes under the plot: each finding's step_range as a bar in its severity colour
      this.findings.slice(0, MAX_LANES).forEach((f, k) => {
        const [a, b] = f.step_range;
        if (b < x0 || a > x1) return;
        const xa = Math.max(L.left, sx(a)), xb = Math.min(L.right, sx(b));
        ctx.fillStyle = severityColor(f.severity);
        ctx.fillRect(xa, L.laneTop + k * PAD.lane, Math.max(2, xb - xa), PAD.lane - 2);
      });

      ctx.strokeStyle = theme.line;
      ctx.strokeRect(L.left + 0.5, L.top + 0.5, L.right - L.left - 1, L.bottom - L.top - 1);

      if (this.drag && this.drag.mode === "zoom") {
        const a = Math.max(L.left, Math.min(this.drag.start, this.drag.x));
        const b = Math.min(L.right, Math.max(this.drag.start, this.drag.x));
        ctx.fillStyle = theme.select;
        ctx.fillRect(a, L.top, b - a, L.bottom - L.top);
      }
      if (this.hover) {
        const x = Math.round(sx(this.hover.step)) + 0.5;
        ctx.strokeStyle = theme.muted;
        ctx.beginPath(); ctx.moveTo(x, L.top); ctx.lineTo(x, L.bottom); ctx.stroke();
        for (const p of this.hover.points) {
          const y = this.ty(p.shown);
          if (y === null) continue;
          ctx.fillStyle = theme.colors[this.color[p.tag]];
          ctx.beginPath(); ctx.arc(sx(p.step), sy(y), 3.5, 0, 2 * Math.PI); ctx.fill();
        }
      }
    }

    yTicks(y0, y1) {
      const n = Math.max(2, Math.floor((this.L.bottom - this.L.top) / 40));
      if (!this.log) return linearTicks(y0, y1, n);
      if (y1 - y0 >= 2) {
        const step = Math.max(1, Math.ceil((y1 - y0) / n));
        const out = [];
        for (let t = Math.ceil(y0 / step) * step; t <= y1; t += step) out.push(t);
        return out;
      }
      return linearTicks(Math.pow(10, y0), Math.pow(10, y1), n).filter((v) => v > 0).map(Math.log10);
    }

    stepAt(px) {
      const [x0, x1] = this.xRange;
      const L = this.L;
      return x0 + (px - L.left) / (L.right - L.left) * (x1 - x0);
    }

    // The points under the cursor: the nearest logged step, then each curve's value there.
    pick(px) {
      const target = this.stepAt(px);
      const pxPerStep = (this.L.right - this.L.left) / (this.xRange[1] - this.xRange[0]);
      const points = [];
      let step = null;
      for (const t of this.visible()) {
        const s = this.run.series[t];
        const i = lowerBound(s.s, target);
        let j = -1, dj = Infinity;
        for (const k of [i - 2, i - 1, i, i + 1]) {  // gaps (null) are single points: look one further
          if (k < 0 || k >= s.s.length || s.v[k] === null) continue;
          if (Math.abs(s.s[k] - target) < dj) { j = k; dj = Math.abs(s.s[k] - target); }
        }
        if (j < 0 || dj * pxPerStep > 30) continue;
        const sm = smoothing > 0 ? smoothed(s)[j] : null;
        points.push({ tag: t, step: s.s[j], raw: s.v[j], smooth: sm, shown: smoothing > 0 ? sm : s.v[j] });
        if (step === null || Math.abs(s.s[j] - target) < Math.abs(step - target)) step = s.s[j];
      }
      const tol = 6 / pxPerStep;
      const nonfinite = [];
      for (const t of this.visible()) {
        for (const g of this.run.series[t].nf) {
          if (g[0] - tol <= target && target <= g[1] + tol) nonfinite.push({ tag: t, g });
        }
      }
      const findings = this.findings.filter((f) => {
        const ranges = f.ranges.length ? f.ranges.concat([f.step_range]) : [f.step_range];
        return ranges.some(([a, b]) => a - tol <= target && target <= b + tol);
      });
      if (step === null && !nonfinite.length) return null;
      return { step: step === null ? Math.round(target) : step, points, nonfinite, findings };
    }

    showTooltip(e) {
      const tip = document.getElementById("tooltip");
      const h = this.hover;
      tip.replaceChildren();
      tip.appendChild(el("div", "tt-step", "step " + h.step.toLocaleString("en-US")));
      const table = el("table");
      for (const p of h.points) {
        const tr = el("tr");
        const sw = el("span", "swatch");
        sw.style.background = theme.colors[this.color[p.tag]];
        const td0 = el("td"); td0.appendChild(sw);
        tr.appendChild(td0);
        tr.appendChild(el("td", "", p.tag));
        tr.appendChild(el("td", "", fmt(p.raw)));
        if (smoothing > 0) tr.appendChild(el("td", "", "smoothed " + fmt(p.smooth)));
        if (p.step !== h.step) tr.appendChild(el("td", "", "@" + p.step.toLocaleString("en-US")));
        table.appendChild(tr);
      }
      tip.appendChild(table);
      for (const n of h.nonfinite) {
        const [a, b, count, kind] = n.g;
        const where = a === b ? "step " + a.toLocaleString("en-US") : "steps " + a.toLocaleString("en-US") + "–" + b.toLocaleString("en-US");
        tip.appendChild(el("div", "tt-flag", "▼ " + n.tag + ": " + count.toLocaleString("en-US") + " × " + kind.toUpperCase() + " at " + where));
      }
      for (const f of h.findings) {
        const d = el("div");
        d.style.color = severityColor(f.severity);
        d.textContent = ({ error: "✖ ", warning: "▲ ", info: "● " }[f.severity] || "") + f.severity + " " + f.rule;
        tip.appendChild(d);
      }
      tip.hidden = false;
      const pad = 14;
      let x = e.clientX + pad, y = e.clientY + pad;
      const r = tip.getBoundingClientRect();
      if (x + r.width > window.innerWidth - 4) x = e.clientX - r.width - pad;
      if (y + r.height > window.innerHeight - 4) y = e.clientY - r.height - pad;
      tip.style.left = Math.max(4, x) + "px";
      tip.style.top = Math.max(4, y) + "px";
    }

    listen() {
      const c = this.canvas;
      const local = (e) => e.clientX - c.getBoundingClientRect().left;
      c.addEventListener("mousedown", (e) => {
        if (e.button !== 0 || !this.L) return;
        e.preventDefault();
        this.drag = { start: local(e), x: local(e), mode: e.shiftKey ? "pan" : "zoom", view: this.xRange.slice() };
        c.style.cursor = this.drag.mode === "pan" ? "grabbing" : "crosshair";
        const move = (ev) => {
          const x = local(ev);
          this.drag.x = x;
          if (this.drag.mode === "pan") {
            const [a, b] = this.drag.view;
            const shift = -(x - this.drag.start) / (this.L.right - this.L.left) * (b - a);
            setView(this.run, [a + shift, b + shift]);
          } else this.draw();
        };
        const up = () => {
          window.removeEventListener("mousemove", move);
          window.removeEventListener("mouseup", up);
          const d = this.drag;
          this.drag = null;
          c.style.cursor = "";
          if (d.mode === "zoom" && Math.abs(d.x - d.start) >= 4) {
            setView(this.run, [this.stepAt(Math.min(d.x, d.start)), this.stepAt(Math.max(d.x, d.start))]);
          } else this.draw();
        };
        window.addEventListener("mousemove", move);
        window.addEventListener("mouseup", up);
      });
      c.addEventListener("mousemove", (e) => {
        if (this.drag || !this.L) return;
        const h = this.pick(local(e));
        this.hover = h;
        this.draw();
        if (h) this.showTooltip(e); else document.getElementById("tooltip").hidden = true;
      });
      c.addEventListener("mouseleave", () => {
        this.hover = null;
        document.getElementById("tooltip").hidden = true;
        if (!this.drag) this.draw();
      });
      c.addEventListener("dblclick", () => setView(this.run, null));
      c.addEventListener("wheel", (e) => {
        if (!(e.ctrlKey || e.metaKey || e.altKey) || !this.L) return;
        e.preventDefault();
        const [a, b] = this.xRange;
        const at = this.stepAt(local(e));
        const k = e.deltaY > 0 ? 1.25 : 0.8;
        setView(this.run, [at - (at - a) * k, at + (b - at) * k]);
      }, { passive: false });
    }

    legend(box) {
      for (const t of this.tags) {
        const b = el("button");
        b.type = "button";
        b.setAttribute("aria-pressed", "true");
        const sw = el("span", "swatch" + (this.run.valTags.has(t) ? " dashed" : ""));
        sw.style.borderColor = theme.colors[this.color[t]];
        b.appendChild(sw);
        b.appendChild(el("span", "", t));
        b.addEventListener("click", () => {
          if (this.hidden.has(t)) this.hidden.delete(t); else this.hidden.add(t);
          b.setAttribute("aria-pressed", String(!this.hidden.has(t)));
          this.draw();
        });
        box.appendChild(b);
      }
      if (this.tags.some((t) => (this.run.baseline || {})[t])) box.appendChild(el("span", "key baseline", "━ baseline (smoothed)"));
      if (this.run.epochs.length) box.appendChild(el("span", "key", "┆ epoch boundary"));
      if (this.tags.some((t) => this.run.series[t].nf.length)) box.appendChild(el("span", "key", "▼ non-finite values"));
      if (this.findings.length) box.appendChild(el("span", "key", "▬ finding ranges (bands) and extents (bars below)"));
    }
  }

  // ------------------------------------------------------------------ the phase-folded plot

  function drawFold(canvas, fold) {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const L = { left: 64, right: w - 12, top: 12, bottom: h - 34 };
    const rows = fold.rows.filter((r) => r.some((v) => v !== null && isFinite(v)));
    let lo = Infinity, hi = -Infinity;
    for (const r of rows.concat([fold.mean])) for (const v of r) {
      if (v === null || !isFinite(v)) continue;
      lo = Math.min(lo, v); hi = Math.max(hi, v);
    }
    if (!isFinite(lo)) return;
    if (hi === lo) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
    const bins = fold.mean.length;
    const sx = (i) => L.left + (i + 0.5) / bins * (L.right - L.left);
    const sy = (v) => L.bottom - (v - lo) / (hi - lo) * (L.bottom - L.top);
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = theme.grid; ctx.fillStyle = theme.muted; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const t of linearTicks(lo, hi, 5)) {
      const y = Math.round(sy(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L.left, y); ctx.lineTo(L.right, y); ctx.stroke();
      ctx.fillText(fmt(t), L.left - 5, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const q of [0, 0.25, 0.5, 0.75, 1]) {
      const x = L.left + q * (L.right - L.left);
      ctx.fillText(Math.round(q * 100) + "%", x, L.bottom + 4);
    }
    ctx.fillText("position in " + fold.unit + (fold.scale === "log" ? "   (y: log value minus trend)" : "   (y: value minus trend)"),
      (L.left + L.right) / 2, L.bottom + 18);
    const line = (r) => {
      ctx.beginPath();
      let pen = false;
      r.forEach((v, i) => {
        if (v === null || !isFinite(v)) { pen = false; return; }
        if (pen) ctx.lineTo(sx(i), sy(v)); else ctx.moveTo(sx(i), sy(v));
        pen = true;
      });
      ctx.stroke();
    };
    ctx.strokeStyle = theme.colors[0];
    ctx.lineWidth = 1;
    rows.forEach((r, k) => {
      ctx.globalAlpha = 0.12 + 0.4 * (rows.length > 1 ? k / (rows.length - 1) : 1);
      line(r);
    });
    ctx.globalAlpha = 1;
    ctx.strokeStyle = theme.colors[1];
    ctx.lineWidth = 2.5;
    line(fold.mean);
    ctx.strokeStyle = theme.line; ctx.lineWidth = 1;
    ctx.strokeRect(L.left + 0.5, L.top + 0.5, L.right - L.left - 1, L.bottom - L.top - 1);
  }

  // ------------------------------------------------------------------ wiring

  function drawAll() {
    for (const c of CHARTS) c.draw();
    for (const [canvas, fold] of FOLDS) drawFold(canvas, fold);
  }

  // The overview of a sweep: sort by a column (click its header), filter by name or rule, severity, family.
  function overviewControls() {
    const table = document.querySelector("table.overview");
    if (!table) return;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const text = document.getElementById("run-filter");
    const sev = document.getElementById("severity-filter");
    const fam = document.getElementById("family-filter");
    const count = document.getElementById("filter-count");
    const filter = () => {
      const words = text ? text.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
      let shown = 0;
      for (const r of rows) {
        const hay = (r.dataset.name + " " + r.dataset.rules).toLowerCase();
        const ok = words.every((w) => hay.includes(w))
          && (!sev || !sev.value || r.dataset.severities.split(" ").includes(sev.value))
          && (!fam || !fam.value || +r.querySelector(`td[data-family="${fam.value}"]`).dataset.rank > 0);
        r.hidden = !ok;
        if (ok) shown++;
      }
      if (count) count.textContent = shown === rows.length ? "" : `${shown} of ${rows.length} runs`;
    };
    for (const c of [text, sev, fam]) if (c) c.addEventListener("input", filter);
    for (const th of table.tHead.querySelectorAll("th[data-sort]")) {
      th.querySelector("button").addEventListener("click", () => {
        const key = th.dataset.sort;
        const dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
        for (const o of table.tHead.querySelectorAll("th[data-sort]")) o.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", dir);
        const sign = dir === "descending" ? 1 : -1;
        const value = key === "name" ? null : (r) => +r.querySelector(`td[data-family="${key}"]`).dataset.rank;
        rows.sort((a, b) => {
          // names: descending = the page's order (worst first), ascending = A to Z; columns: worst first
          const d = value ? sign * (value(b) - value(a)) : (dir === "descending" ? a.dataset.order - b.dataset.order
                                                            : a.dataset.name.localeCompare(b.dataset.name));
          return d || a.dataset.order - b.dataset.order;
        });
        body.append(...rows);
      });
    }
  }

  function init() {
    readTheme();
    overviewControls();
    // Redraw a canvas whenever its laid-out size changes: window resize, a <details> opening, print layout.
    const size = new Map();
    const resized = new ResizeObserver((entries) => {
      for (const e of entries) {
        const key = Math.round(e.contentRect.width) + "x" + Math.round(e.contentRect.height);
        if (size.get(e.target) === key) continue;
        size.set(e.target, key);
        if (e.target._chart) e.target._chart.draw();
        else if (e.target._fold) drawFold(e.target, e.target._fold);
      }
    });
    const folds = {};
    for (const run of DATA.runs) for (const f of run.findings) if (f.fold) folds[f.id] = f.fold;

    // A run's charts are built when its section comes near the screen: a sweep of thousands of
    // runs opens at once and draws only what is looked at. The first few (not "lazy") right away.
    const setUp = (section) => {
      if (section._charted) return [];
      section._charted = true;
      const made = [];
      for (const canvas of section.querySelectorAll("canvas.chart")) {
        const chart = chartFor(canvas);
        if (chart) { made.push(chart); resized.observe(canvas); }
      }
      for (const canvas of section.querySelectorAll("canvas.foldchart")) {
        const fold = folds[canvas.dataset.finding];
        if (!fold) continue;
        FOLDS.push([canvas, fold]);
        canvas._fold = fold;
        resized.observe(canvas);
        made.push({ draw: () => drawFold(canvas, fold) });
      }
      return made;
    };
    const sections = Array.from(document.querySelectorAll("section.run"));
    sections.filter((s) => !s.classList.contains("lazy")).forEach(setUp);
    const near = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        near.unobserve(e.target);
        for (const c of setUp(e.target)) c.draw();
      }
    }, { rootMargin: "600px 0px" });
    for (const s of sections) if (s.classList.contains("lazy")) near.observe(s);

    const slider = document.getElementById("smoothing");
    const out = document.getElementById("smoothing-value");
    slider.value = String(smoothing);
    slider.addEventListener("input", () => {
      smoothing = parseFloat(slider.value);
      out.textContent = smoothing.toFixed(2);
      for (const c of CHARTS) c.draw();
    });

    for (const b of document.querySelectorAll("button.zoomto")) {
      b.addEventListener("click", () => {
        const run = RUNS[b.dataset.run];
        const a = +b.dataset.from, z = +b.dataset.to;
        const m = Math.max(2, (z - a) * 0.05);
        setView(run, [a - m, z + m]);
        const charts = document.getElementById(run.id).querySelector(".charts");
        if (charts) charts.scrollIntoView({ behavior: "smooth", block: "start" });
      });
    }

    // A link to a rule card opens it.
    const openTarget = () => {
      let id = "";
      try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }  // e.g. "#50%"
      const t = id && document.getElementById(id);
      if (t && t.tagName === "DETAILS") t.open = true;
    };
    window.addEventListener("hashchange", openTarget);
    openTarget();
    for (const a of document.querySelectorAll('a[href^="#card-"]')) {
      a.addEventListener("click", () => {
        const t = document.getElementById(a.getAttribute("href").slice(1));
        if (t) t.open = true;
      });
    }

    const dark = window.matchMedia("(prefers-color-scheme: dark)");
    if (dark.addEventListener) dark.addEventListener("change", () => { readTheme(); drawAll(); });

    // Printing: every run's charts built, every section open so its charts are laid out, redrawn at the page's width.
    let reopened = [];
    window.addEventListener("beforeprint", () => {
      sections.forEach(setUp);
      reopened = Array.from(document.querySelectorAll("details:not([open])"));
      for (const d of reopened) d.open = true;
      drawAll();
    });
    window.addEventListener("afterprint", () => {
      for (const d of reopened) d.open = false;
      reopened = [];
      drawAll();
    });
    drawAll();
    document.documentElement.dataset.ready = "1";
  }

  function chartFor(canvas) {
    const run = RUNS[canvas.dataset.run];
    if (!run) return null;
    const tags = canvas.dataset.panel !== undefined ? run.panels[+canvas.dataset.panel].tags : [run.others[+canvas.dataset.other]];
    const chart = new Chart(canvas, run, tags);
    run.charts.push(chart);
    CHARTS.push(chart);
    const fig = canvas.closest("figure");
    const legend = fig.querySelector(".legend");
    if (legend) chart.legend(legend);
    const log = fig.querySelector("input.logy");
    if (log) {
      log.checked = chart.log = chart.wantsLog();
      canvas.dataset.log = chart.log ? "1" : "0";
      log.addEventListener("change", () => {
        chart.log = log.checked;
        canvas.dataset.log = log.checked ? "1" : "0";
        chart.draw();
      });
    }
    const reset = fig.querySelector("button.reset");
    if (reset) reset.addEventListener("click", () => setView(run, null));
    return chart;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
