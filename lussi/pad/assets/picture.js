/*
 * The pad's drawing -> a 28x28 MNIST-style digit: lussi/picture.py's convert(), step by step, in JavaScript.
 *
 * Each function names the Python function it mirrors; numeric.js has the NumPy, SciPy and Pillow
 * operations with their arithmetic, so that the page's digit is lussi's, pixel for pixel
 * (tests/test_pad_browser.py compares them on recorded strokes and on the canvas's own PNG).
 * One step of convert() is constant on the pad and is not run: the ink is known to be darker than the
 * paper (ink_polarity = +1; it would take a canvas inked over most of its border to vote otherwise).
 * Hand-written: no browser library finds and converts a digit as lussi does.
 */
(function (root) {
  "use strict";

  var WORK_SIDE = 400, SEED_SIGMAS = 6.0, MIN_SEED_LEVEL = 4.0, HIGH = 0.35, LOW = 0.12;
  var SMALL_SIDE = 64, EVEN_ELEMENT = 1 / 5, UNEVEN_ELEMENT = 1 / 8;
  var PART_SHARE = 0.03, SPECK_EXTENT = 0.04, BAND_REACH = 0.3, RING_LEVEL = 0.02, INTERMEDIATE = 4;
  var f32 = Math.fround;
  var N = typeof module === "object" && module.exports ? require("./numeric.js") : root.LussiPadNumeric;
  var pyRound = N.pyRound, npSum = N.npSum, median = N.median, sparseMedian = N.sparseMedian;
  var percentile = N.percentile, pilResize = N.pilResize, distanceInside = N.distanceInside;

  /** picture.noise_level: 1.4826 x the median absolute deviation (float32 differences). */
  function noiseLevel(values) {
    var centre = sparseMedian(values);
    var dev = new Float32Array(values.length);
    for (var i = 0; i < values.length; i++) dev[i] = Math.abs(f32(values[i] - centre));
    return 1.4826 * sparseMedian(dev);
  }

  /** picture._components (with picture._shapes): labels and per-label mass, box, speck, band. */
  function components(mask, ink, h, w, seeds, strong) {
    var found = N.label(mask, h, w), labels = found.labels, count = found.count, p;
    if (seeds && count) {
      var held = new Uint8Array(count + 1);
      for (p = 0; p < h * w; p++) if (seeds[p]) held[labels[p]] = 1;
      held[0] = 0;
      for (p = 0; p < h * w; p++) if (!held[labels[p]]) labels[p] = 0;
    }
    var mass = new Float64Array(count);
    for (p = 0; p < h * w; p++) if (labels[p]) mass[labels[p] - 1] += ink[p];
    var boxes = N.findObjects(labels, count, h, w, null), cores = boxes;
    if (strong !== undefined) {
      var isStrong = new Uint8Array(h * w), level = f32(strong);
      for (p = 0; p < h * w; p++) isStrong[p] = ink[p] >= level;
      cores = N.findObjects(labels, count, h, w, isStrong);
    }
    var speck = [], band = [], side = Math.max(h, w);
    for (var i = 0; i < count; i++) {
      var b = boxes[i];
      if (!b) { speck.push(false); band.push(false); continue; }
      var c = cores[i] || b;
      speck.push(Math.max(c[1] - c[0], c[3] - c[2]) < SPECK_EXTENT * side);
      var reach = [b[0] === 0 ? b[1] / h : 1.0, b[1] === h ? 1 - b[0] / h : 1.0,
                   b[2] === 0 ? b[3] / w : 1.0, b[3] === w ? 1 - b[2] / w : 1.0];
      band.push(Math.min.apply(null, reach) < BAND_REACH);
    }
    return { labels: labels, mass: mass, box: boxes, speck: speck, band: band };
  }

  /** picture._main: the component most likely the digit (most ink, weighted to the centre) and its verdict. */
  function mainComponent(stats, h, w) {
    var kinds = [
      ["digit", function (i) { return !stats.speck[i] && !stats.band[i]; }],
      ["speck", function (i) { return !stats.band[i]; }],
      ["band", function () { return true; }],
    ];
    for (var k = 0; k < kinds.length; k++) {
      var best = -1, bestScore = -Infinity;
      for (var i = 0; i < stats.box.length; i++) {
        var b = stats.box[i];
        if (!b || !kinds[k][1](i)) continue;
        var cy = (b[0] + b[1]) / 2 / h - 0.5, cx = (b[2] + b[3]) / 2 / w - 0.5;
        var score = stats.mass[i] / (1.0 + 4.0 * (cy * cy + cx * cx));
        if (score > bestScore) { best = i; bestScore = score; }
      }
      if (best >= 0) return { index: best, verdict: kinds[k][0] };
    }
    return null;
  }

  /** picture._near: whether `other` overlaps `box` grown by `margin` of its longer side. */
  function near(box, other, margin) {
    var grow = margin * Math.max(box[1] - box[0], box[3] - box[2]);
    return other[0] < box[1] + grow && other[1] > box[0] - grow && other[2] < box[3] + grow && other[3] > box[2] - grow;
  }

  /** picture._parts: labels of the digit, its main component and the detached parts beside it. */
  function parts(stats, ink, w, main, contrast) {
    var box = stats.box[main], chosen = [main + 1], high = f32(HIGH * contrast);
    for (var i = 0; i < stats.box.length; i++) {
      var other = stats.box[i];
      if (i === main || !other || stats.band[i] || !(stats.mass[i] >= PART_SHARE * stats.mass[main])) continue;
      if (!near(box, other, 0.5)) continue;
      var peak = -Infinity;
      for (var y = other[0]; y < other[1]; y++) {
        for (var x = other[2]; x < other[3]; x++) if (stats.labels[y * w + x] === i + 1) peak = Math.max(peak, ink[y * w + x]);
      }
      if (peak >= high) chosen.push(i + 1);
    }
    return chosen;
  }

  /** picture._frame: the picture's border, a 16th of its shorter side wide, in NumPy's concatenation order. */
  function frame(img, h, w) {
    var t = Math.max(1, Math.floor(Math.min(h, w) / 16)), out = new Float32Array(2 * t * (w + h)), i = 0, y, x;
    for (y = 0; y < t; y++) for (x = 0; x < w; x++) out[i++] = img[y * w + x];
    for (y = h - t; y < h; y++) for (x = 0; x < w; x++) out[i++] = img[y * w + x];
    for (y = 0; y < h; y++) for (x = 0; x < t; x++) out[i++] = img[y * w + x];
    for (y = 0; y < h; y++) for (x = w - t; x < w; x++) out[i++] = img[y * w + x];
    return out;
  }

  /** picture.shrink: area-average so the longer side is at most `side`. */
  function shrink(img, h, w, side) {
    var scale = side / Math.max(h, w);
    if (scale >= 1) return { data: img, h: h, w: w };
    var tw = Math.max(1, pyRound(w * scale)), th = Math.max(1, pyRound(h * scale));
    return { data: pilResize(img, h, w, tw, th, "box"), h: th, w: tw };
  }

  /** picture._even_border: the border's level when most of the border is near it, else null. */
  function evenBorder(small) {
    var edge = frame(small.data, small.h, small.w), level = median(edge), diffs = [];
    for (var y = 0; y < small.h; y++) {
      for (var x = 0; x + 1 < small.w; x++) diffs.push(f32(small.data[y * small.w + x + 1] - small.data[y * small.w + x]));
    }
    var reach = f32(Math.max(4 * (noiseLevel(diffs) / Math.SQRT2), 8.0)), close = 0;
    for (var i = 0; i < edge.length; i++) if (Math.abs(f32(edge[i] - level)) <= reach) close++;
    return close / edge.length >= 0.6 ? level : null;
  }

  /** picture._stroke_width: 4 x the strongest strokes' mean distance to the background, in pixels. */
  function strokeWidth(ink, h, w) {
    var cut = f32(0.5 * percentile(ink, 99.5)), strong = new Uint8Array(h * w), count = 0, i;
    for (i = 0; i < h * w; i++) { strong[i] = ink[i] > cut; count += strong[i]; }
    if (!count || count === h * w) return 0;
    var dist = distanceInside(strong, h, w), inside = [];
    for (i = 0; i < h * w; i++) if (strong[i]) inside.push(dist[i]);
    return pyRound(4 * (npSum(inside, false) / inside.length));
  }

  /** picture.ink_map for dark ink: ink in grey levels above the paper (paper by a grey opening), and its noise. */
  function inkMap(grey, h, w) {
    var n = h * w, high = new Float32Array(n), paper, p, y, x;
    for (p = 0; p < n; p++) high[p] = 255.0 - grey[p];
    var even = Math.max(h, w) < SMALL_SIDE || evenBorder(shrink(grey, h, w, 128)) !== null;
    if (Math.max(h, w) < SMALL_SIDE) {
      paper = new Float32Array(n).fill(median(frame(high, h, w)));
    } else {
      // 2x2 maxima of the edge-padded picture, as picture.ink_map, then the opening at half resolution.
      var ph = Math.ceil(h / 2), pw = Math.ceil(w / 2), pooled = new Float32Array(ph * pw);
      for (y = 0; y < ph; y++) {
        for (x = 0; x < pw; x++) {
          var y1 = Math.min(2 * y + 1, h - 1), x1 = Math.min(2 * x + 1, w - 1);
          pooled[y * pw + x] = Math.max(high[2 * y * w + 2 * x], high[y1 * w + 2 * x], high[2 * y * w + x1], high[y1 * w + x1]);
        }
      }
      var element = Math.max(3, pyRound(Math.max(ph, pw) * (even ? EVEN_ELEMENT : UNEVEN_ELEMENT)));
      if (even) {
        var level = median(frame(pooled, ph, pw)), lifted = new Float32Array(ph * pw);
        for (p = 0; p < ph * pw; p++) lifted[p] = pooled[p] - level;
        var stroke = strokeWidth(lifted, ph, pw);
        element = element >= 1.1 * stroke ? element : 2 * stroke;
      }
      var opened = N.greyOpening(pooled, ph, pw, element | 1);
      paper = new Float32Array(n);
      for (y = 0; y < h; y++) for (x = 0; x < w; x++) paper[y * w + x] = opened[(y >> 1) * pw + (x >> 1)];
    }
    var ink = new Float32Array(n);
    for (p = 0; p < n; p++) ink[p] = high[p] - paper[p];
    var reference = even ? frame(ink, h, w) : ink, shift = sparseMedian(reference);
    for (p = 0; p < n; p++) ink[p] = ink[p] - shift;
    return { ink: ink, sigma: noiseLevel(reference) };
  }

  /** picture.digit_mask: the digit's pixels, its contrast and a verdict ("digit", "blank", "speck", "band"). */
  function digitMask(ink, h, w, sigma) {
    var n = h * w, p, smooth = N.uniform3(ink, h, w);
    var step = Math.max(1, Math.floor(n / 20000)), sample = new Float32Array(Math.ceil(n / step)), paper = [];
    var nearZero = f32(3 * sigma);
    for (p = 0; p < n; p += step) {
      sample[p / step] = smooth[p];
      if (Math.abs(ink[p]) <= nearZero) paper.push(smooth[p]);
    }
    // Python's `paper` is a copy of the selected values, or, where none is selected, a view of smooth.
    var isView = !paper.length;
    if (isView) paper = sample;
    var level = median(paper);
    for (p = 0; p < n; p++) smooth[p] = smooth[p] - level;
    if (isView) for (p = 0; p < paper.length; p++) paper[p] = f32(paper[p] - level);
    var threshold = f32(Math.max(SEED_SIGMAS * Math.max(sigma, noiseLevel(paper)), MIN_SEED_LEVEL));
    var seeds = new Uint8Array(n);
    for (p = 0; p < n; p++) seeds[p] = smooth[p] > threshold;
    var stats = components(seeds, ink, h, w), blank = { mask: null, contrast: 0, verdict: "blank" };
    if (!stats.mass.length) return blank;
    var main = mainComponent(stats, h, w).index, b = stats.box[main], inMain = [];
    for (var y = b[0]; y < b[1]; y++) {
      for (var x = b[2]; x < b[3]; x++) if (stats.labels[y * w + x] === main + 1) inMain.push(ink[y * w + x]);
    }
    var contrast = percentile(inMain, 90), floor = f32(Math.max(LOW * contrast, 3 * sigma)), grown = new Uint8Array(n);
    for (p = 0; p < n; p++) grown[p] = ink[p] > floor;
    stats = components(grown, ink, h, w, seeds, HIGH * contrast);
    if (stats.box.every(function (box) { return box === null; })) return blank;
    var found = mainComponent(stats, h, w), chosen = parts(stats, ink, w, found.index, contrast);
    var mask = new Uint8Array(n);
    for (p = 0; p < n; p++) mask[p] = chosen.indexOf(stats.labels[p]) >= 0;
    return { mask: mask, contrast: contrast, verdict: found.verdict };
  }

  var REASONS = {
    blank: "nothing on the pad stands out of the paper: draw a digit",
    speck: "the only marks are specks (under " + SPECK_EXTENT * 100 + "% of the pad's side): draw a bigger digit",
    band: "the only marks run along the pad's edge: draw the digit in the middle",
  };

  /** picture._resize: Pillow's resize (the shrink filter when neither side grows, else Lanczos), clipped to [0, 1]. */
  function resize(src, h, w, outW, outH, shrinkFilter) {
    var out = pilResize(src, h, w, outW, outH, outW <= w && outH <= h ? shrinkFilter : "lanczos");
    for (var i = 0; i < out.length; i++) out[i] = Math.min(Math.max(out[i], 0.0), 1.0);
    return out;
  }

  /** picture.fit_box: scale the cropped ink so its longer side is `box`, thickening hairlines on the way. */
  function fitBox(ink, h, w, box, minStroke) {
    var side = INTERMEDIATE * box, scale = side / Math.max(h, w);
    var mw = Math.max(1, pyRound(w * scale)), mh = Math.max(1, pyRound(h * scale));
    var mid = resize(ink, h, w, mw, mh, "box");
    if (minStroke) {
      var strokes = new Uint8Array(mid.length), any = false;
      for (var i = 0; i < mid.length; i++) { strokes[i] = mid[i] > 0.5; any = any || strokes[i]; }
      if (any) {
        var dist = distanceInside(strokes, mh, mw), inside = [];
        for (i = 0; i < mid.length; i++) if (strokes[i]) inside.push(dist[i]);
        var widthPx = npSum(inside, false) / inside.length, radius = pyRound(2 * (minStroke * box - widthPx));
        if (radius >= 1) {
          var grown = N.dilateDisk(mid, mh, mw, radius);
          scale = side / Math.max(grown.h, grown.w);
          var gw = Math.max(1, pyRound(grown.w * scale)), gh = Math.max(1, pyRound(grown.h * scale));
          mid = resize(grown.data, grown.h, grown.w, gw, gh, "box");
          mw = gw; mh = gh;
        }
      }
    }
    var outW = Math.max(1, pyRound(mw * box / side)), outH = Math.max(1, pyRound(mh * box / side));
    var digit = resize(mid, mh, mw, outW, outH, "lanczos"), ring = f32(RING_LEVEL);
    for (i = 0; i < digit.length; i++) if (digit[i] < ring) digit[i] = 0.0;
    return { data: digit, h: outH, w: outW };
  }

  /** picture.place_by_mass: the digit in a size x size field, centre of mass in the middle (whole pixels), uint8. */
  function placeByMass(digit, size) {
    var h = digit.h, w = digit.w, total = npSum(digit.data, true), cy, cx;
    if (total <= 0) { cy = (h - 1) / 2; cx = (w - 1) / 2; } else {
      var sy = 0, sx = 0;  // float64 sums of float32 x index: exact, so their order does not matter
      for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) { sy += digit.data[y * w + x] * y; sx += digit.data[y * w + x] * x; }
      cy = sy / total; cx = sx / total;
    }
    var top = Math.min(Math.max(pyRound(size / 2 - cy), 0), size - h);
    var left = Math.min(Math.max(pyRound(size / 2 - cx), 0), size - w);
    var field = new Uint8Array(size * size);
    for (y = 0; y < h; y++) {
      for (x = 0; x < w; x++) {
        var v = f32(digit.data[y * w + x] * 255), r = Math.round(v);
        if (Math.abs(v % 1) === 0.5) r = 2 * Math.round(v / 2);  // np.rint: half to even
        field[(top + y) * size + left + x] = r;
      }
    }
    return field;
  }

  /**
   * picture.convert for a grey picture of dark ink (the pad): ink 255, paper 0, centre of mass in the middle.
   * `grey` holds h*w levels 0..255 (row-major). Returns {pixels: Uint8Array(size*size)} or {error: reason}.
   */
  function convert(grey, h, w, options) {
    options = options || {};
    var size = options.size || 28, box = options.box || 20;
    var minStroke = options.minStroke === undefined ? 0.12 : options.minStroke;
    if (Math.max(h, w) > WORK_SIDE) throw new Error("the pad is larger than " + WORK_SIDE + " px: picture.shrink would apply");
    var map = inkMap(Float32Array.from(grey), h, w), ink = map.ink, p;
    var found = digitMask(ink, h, w, map.sigma);
    if (found.verdict !== "digit") return { error: "no digit found: " + REASONS[found.verdict] };
    var r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (p = 0; p < h * w; p++) {
      if (!found.mask[p]) continue;
      var y = (p / w) | 0, x = p - y * w;
      r0 = Math.min(r0, y); r1 = Math.max(r1, y); c0 = Math.min(c0, x); c1 = Math.max(c1, x);
    }
    var ch = r1 - r0 + 1, cw = c1 - c0 + 1, crop = new Float32Array(ch * cw);
    var low = f32(LOW * found.contrast), span = f32((1 - LOW) * found.contrast);
    for (y = 0; y < ch; y++) {
      for (x = 0; x < cw; x++) {
        var q = (r0 + y) * w + c0 + x;
        crop[y * cw + x] = found.mask[q] ? Math.min(Math.max(f32(f32(ink[q] - low) / span), 0.0), 1.0) : 0.0;
      }
    }
    return { pixels: placeByMass(fitBox(crop, ch, cw, box, minStroke), size) };
  }

  var api = { convert: convert, greyFromRGBA: N.greyFromRGBA, npSum: npSum };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.LussiPadPicture = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
