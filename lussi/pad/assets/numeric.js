/*
 * The NumPy, SciPy and Pillow operations lussi/picture.py uses, in JavaScript, with their arithmetic:
 * float32 where they store float32 (Math.fround), float64 where they accumulate in double, Python's
 * round-half-to-even, NumPy's pairwise sums, Pillow's two-pass resampling coefficients, SciPy's
 * raster-order labels and exact distance transform. picture.js composes them into convert().
 * Hand-written: no browser library offers these with the same results.
 */
(function (root) {
  "use strict";

  var f32 = Math.fround;

  /** Python's round(): half to even. */
  function pyRound(x) {
    var r = Math.round(x);
    return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
  }

  /** NumPy's pairwise summation of a contiguous array (float32 accumulators when `single`). */
  function pairwise(a, start, n, single) {
    var round = single ? f32 : function (v) { return v; };
    var i, res;
    if (n < 8) {
      res = 0;
      for (i = 0; i < n; i++) res = round(res + a[start + i]);
      return res;
    }
    if (n <= 128) {
      var r = [];
      for (i = 0; i < 8; i++) r.push(a[start + i]);
      for (i = 8; i < n - (n % 8); i += 8) {
        for (var j = 0; j < 8; j++) r[j] = round(r[j] + a[start + i + j]);
      }
      res = round(round(round(r[0] + r[1]) + round(r[2] + r[3])) + round(round(r[4] + r[5]) + round(r[6] + r[7])));
      for (; i < n; i++) res = round(res + a[start + i]);
      return res;
    }
    var n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return round(pairwise(a, start, n2, single) + pairwise(a, start + n2, n - n2, single));
  }

  function npSum(a, single) {
    return pairwise(a, 0, a.length, single);
  }

  /** The k-th smallest of `a` (a Float64Array, reordered in place): quickselect, as np.partition. */
  function select(a, k) {
    var lo = 0, hi = a.length - 1;
    while (hi > lo) {
      var pivot = a[(lo + hi) >> 1], i = lo, j = hi, t;
      while (i <= j) {
        while (a[i] < pivot) i++;
        while (a[j] > pivot) j--;
        if (i <= j) { t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
      }
      if (k <= j) hi = j; else if (k >= i) lo = i; else break;
    }
    return a[k];
  }

  /** The k-th and (k+1)-th smallest of `values` (copied). */
  function orderPair(values, k) {
    var a = Float64Array.from(values), first = select(a, k), second = Infinity;
    for (var i = k + 1; i < a.length; i++) if (a[i] < second) second = a[i];
    return [first, k + 1 < a.length ? second : first];
  }

  /** np.median of float32 values (the mean of the two middle values for an even count), float32. */
  function median(values) {
    var n = values.length, m = n >> 1;
    if (n % 2) return select(Float64Array.from(values), m);
    var pair = orderPair(values, m - 1);
    return f32((pair[0] + pair[1]) / 2);
  }

  /** picture._median: the median of at most ~20,000 evenly spaced values. */
  function sparseMedian(values) {
    var step = Math.max(1, Math.floor(values.length / 20000));
    if (step === 1) return median(values);
    var picked = new Float64Array(Math.ceil(values.length / step));
    for (var i = 0, j = 0; i < values.length; i += step) picked[j++] = values[i];
    return median(picked);
  }


  /** scipy.ndimage.uniform_filter(ink, 3, mode="nearest"): along rows' axis 0 first, then axis 1, float32. */
  function uniform3(ink, h, w) {
    var tmp = new Float32Array(h * w), out = new Float32Array(h * w);
    for (var y = 0; y < h; y++) {
      var up = Math.max(0, y - 1) * w, down = Math.min(h - 1, y + 1) * w;
      for (var x = 0; x < w; x++) tmp[y * w + x] = (ink[up + x] + ink[y * w + x] + ink[down + x]) / 3;
    }
    for (y = 0; y < h; y++) {
      var row = y * w;
      for (x = 0; x < w; x++) {
        out[row + x] = (tmp[row + Math.max(0, x - 1)] + tmp[row + x] + tmp[row + Math.min(w - 1, x + 1)]) / 3;
      }
    }
    return out;
  }

  /** scipy.ndimage.label (8-connected), labels numbered in raster order of their first pixel. */
  function label(mask, h, w) {
    var labels = new Int32Array(h * w), count = 0, stack = [];
    for (var start = 0; start < h * w; start++) {
      if (!mask[start] || labels[start]) continue;
      labels[start] = ++count;
      stack.push(start);
      while (stack.length) {
        var p = stack.pop(), py = (p / w) | 0, px = p - py * w;
        for (var dy = -1; dy <= 1; dy++) {
          for (var dx = -1; dx <= 1; dx++) {
            var qy = py + dy, qx = px + dx, q = qy * w + qx;
            if (qy >= 0 && qy < h && qx >= 0 && qx < w && mask[q] && !labels[q]) {
              labels[q] = count;
              stack.push(q);
            }
          }
        }
      }
    }
    return { labels: labels, count: count };
  }

  /** scipy.ndimage.find_objects: each label's [row0, row1, col0, col1) box, or null. */
  function findObjects(labels, count, h, w, keep) {
    var boxes = new Array(count).fill(null);
    for (var p = 0; p < h * w; p++) {
      var l = labels[p];
      if (!l || (keep && !keep[p])) continue;
      var y = (p / w) | 0, x = p - y * w, b = boxes[l - 1];
      if (!b) boxes[l - 1] = [y, y + 1, x, x + 1];
      else {
        b[0] = Math.min(b[0], y); b[1] = Math.max(b[1], y + 1);
        b[2] = Math.min(b[2], x); b[3] = Math.max(b[3], x + 1);
      }
    }
    return boxes;
  }


  /** np.percentile(values, q) with the default linear method. */
  function percentile(values, q) {
    var n = values.length, index = n * (q / 100) + (1 + (q / 100) * (1 - 1 - 1)) - 1;
    var below = Math.min(Math.max(Math.floor(index), 0), n - 1), pair = orderPair(values, below);
    var t = index - below, a = pair[0], b = below + 1 < n ? pair[1] : pair[0], d = b - a;
    return f32(t >= 0.5 ? b - d * (1 - t) : a + d * t);
  }


  /**
   * scipy.ndimage.minimum_filter1d / maximum_filter1d (odd `size`, mode "nearest") along columns or rows,
   * by van Herk and Gil-Werman's running extrema (three comparisons a pixel whatever the size; exact).
   */
  function extremum1d(src, h, w, size, alongColumns, useMax) {
    var out = new Float32Array(h * w), half = (size - 1) / 2, n = alongColumns ? h : w, lines = alongColumns ? w : h;
    var len = n + 2 * half, blocks = Math.ceil(len / size) * size;
    var line = new Float64Array(blocks), left = new Float64Array(blocks), right = new Float64Array(blocks);
    var sign = useMax ? -1 : 1;  // a maximum is the minimum of the negated values
    for (var l = 0; l < lines; l++) {
      var stride = alongColumns ? w : 1, base = alongColumns ? l : l * w, i, a, b;
      for (i = 0; i < blocks; i++) {
        var j = Math.min(Math.max(i - half, 0), n - 1);  // "nearest": the edge pixel repeats
        line[i] = i < len ? sign * src[base + j * stride] : Infinity;
      }
      for (i = 0; i < blocks; i += size) {
        left[i] = line[i];
        for (a = i + 1; a < i + size; a++) left[a] = line[a] < left[a - 1] ? line[a] : left[a - 1];
        right[i + size - 1] = line[i + size - 1];
        for (b = i + size - 2; b >= i; b--) right[b] = line[b] < right[b + 1] ? line[b] : right[b + 1];
      }
      for (i = 0; i < n; i++) {
        a = right[i]; b = left[i + size - 1];
        out[base + i * stride] = sign * (a < b ? a : b);
      }
    }
    return out;
  }

  /** scipy.ndimage.grey_opening with a size x size square, mode "nearest" (separable, as SciPy does it). */
  function greyOpening(src, h, w, size) {
    var eroded = extremum1d(extremum1d(src, h, w, size, true, false), h, w, size, false, false);
    return extremum1d(extremum1d(eroded, h, w, size, true, true), h, w, size, false, true);
  }


  var FILTERS = {
    box: { support: 0.5, f: function (x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; } },
    lanczos: {
      support: 3.0,
      f: function (x) {
        function sinc(v) { if (v === 0.0) return 1.0; v = v * Math.PI; return Math.sin(v) / v; }
        return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
      },
    },
  };

  /** Pillow's precompute_coeffs: per output pixel, the first input pixel and normalised weights. */
  function coefficients(inSize, outSize, filter) {
    var scale = inSize / outSize, filterscale = Math.max(scale, 1.0), support = filter.support * filterscale;
    var inverse = 1.0 / filterscale, out = [];
    for (var xx = 0; xx < outSize; xx++) {
      var center = (xx + 0.5) * scale, total = 0.0, k = [];
      var xmin = Math.max(0, Math.trunc(center - support + 0.5));
      var xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
      for (var x = 0; x < xmax; x++) {
        var weight = filter.f((x + xmin - center + 0.5) * inverse);
        k.push(weight);
        total += weight;
      }
      if (total !== 0.0) for (x = 0; x < k.length; x++) k[x] /= total;
      out.push({ start: xmin, k: k });
    }
    return out;
  }

  /** Pillow's Image.resize of a mode "F" image: horizontal pass, then vertical, each stored as float32. */
  function pilResize(src, h, w, outW, outH, filterName) {
    if (outW === w && outH === h) return Float32Array.from(src);
    var filter = FILTERS[filterName], data = src, width = w, y, x, i, sum, c;
    if (outW !== w) {
      var horiz = coefficients(w, outW, filter), tmp = new Float32Array(h * outW);
      for (y = 0; y < h; y++) {
        for (x = 0; x < outW; x++) {
          c = horiz[x]; sum = 0.0;
          for (i = 0; i < c.k.length; i++) sum += data[y * w + c.start + i] * c.k[i];
          tmp[y * outW + x] = sum;
        }
      }
      data = tmp; width = outW;
    }
    if (outH === h) return data;
    var vert = coefficients(h, outH, filter), out = new Float32Array(outH * width);
    for (y = 0; y < outH; y++) {
      c = vert[y];
      for (x = 0; x < width; x++) {
        sum = 0.0;
        for (i = 0; i < c.k.length; i++) sum += data[(c.start + i) * width + x] * c.k[i];
        out[y * width + x] = sum;
      }
    }
    return out;
  }


  /** 1-D squared distance transform (Felzenszwalb and Huttenlocher): exact for integer inputs, Infinity = no site. */
  function edt1d(f, n) {
    var d = new Float64Array(n).fill(Infinity), v = [], z = [], k = -1, q, s;
    for (q = 0; q < n; q++) {
      if (f[q] === Infinity) continue;
      s = -Infinity;
      while (k >= 0) {
        s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
        if (s <= z[k]) k--; else break;
      }
      if (k < 0) s = -Infinity;
      k++; v[k] = q; z[k] = s;
    }
    if (k < 0) return d;
    var j = 0;
    for (q = 0; q < n; q++) {
      while (j < k && z[j + 1] < q) j++;
      d[q] = (q - v[j]) * (q - v[j]) + f[v[j]];
    }
    return d;
  }

  /** scipy.ndimage.distance_transform_edt of np.pad(inside, 1), cropped back: distance to the nearest outside pixel. */
  function distanceInside(inside, h, w) {
    var H = h + 2, W = w + 2, grid = new Float64Array(H * W), y, x, col = new Float64Array(H), row = new Float64Array(W);
    for (y = 0; y < h; y++) for (x = 0; x < w; x++) grid[(y + 1) * W + x + 1] = inside[y * w + x] ? Infinity : 0;
    for (x = 0; x < W; x++) {
      for (y = 0; y < H; y++) col[y] = grid[y * W + x];
      var dc = edt1d(col, H);
      for (y = 0; y < H; y++) grid[y * W + x] = dc[y];
    }
    var out = new Float64Array(h * w);
    for (y = 0; y < H; y++) {
      for (x = 0; x < W; x++) row[x] = grid[y * W + x];
      var dr = edt1d(row, W);
      if (y >= 1 && y <= h) for (x = 1; x <= w; x++) out[(y - 1) * w + x - 1] = Math.sqrt(dr[x]);
    }
    return out;
  }

  /** np.pad(mid, r) then scipy.ndimage.grey_dilation with a disk of radius r (values are >= 0, so zeros beyond). */
  function dilateDisk(src, h, w, r) {
    var H = h + 2 * r, W = w + 2 * r, out = new Float32Array(H * W), offsets = [];
    for (var dy = -r; dy <= r; dy++) for (var dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) offsets.push([dy, dx]);
    for (var y = 0; y < H; y++) {
      for (var x = 0; x < W; x++) {
        var best = 0;
        for (var i = 0; i < offsets.length; i++) {
          var sy = y + offsets[i][0] - r, sx = x + offsets[i][1] - r;
          if (sy >= 0 && sy < h && sx >= 0 && sx < w && src[sy * w + sx] > best) best = src[sy * w + sx];
        }
        out[y * W + x] = best;
      }
    }
    return { data: out, h: H, w: W };
  }


  /** Grey levels of RGBA pixels as Pillow's convert("L"): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. */
  function greyFromRGBA(rgba) {
    var n = rgba.length / 4, grey = new Uint8Array(n);
    for (var i = 0; i < n; i++) {
      grey[i] = (rgba[4 * i] * 19595 + rgba[4 * i + 1] * 38470 + rgba[4 * i + 2] * 7471 + 0x8000) >>> 16;
    }
    return grey;
  }

  var api = {
    pyRound: pyRound, npSum: npSum, median: median, sparseMedian: sparseMedian, percentile: percentile,
    uniform3: uniform3, label: label, findObjects: findObjects, distanceInside: distanceInside,
    greyOpening: greyOpening, pilResize: pilResize, dilateDisk: dilateDisk, greyFromRGBA: greyFromRGBA,
  };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.LussiPadNumeric = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
