/*
 * The drawing pad: strokes in, the 28x28 digit, each network's top classes and the KNN's neighbours out.
 *
 * Networks run on TensorFlow.js ops (CPU backend, float32) from the layer list of lussi/pad/export.py;
 * the KNN is an exact integer search, as lussi.models.search's. The conversion is picture.js.
 * State for tests and benchmarks/pad.py is written into the DOM: the root's data-state
 * ("loading", "ready", "error"), data-pixels (the 784 levels), data-strokes, data-latency-ms
 * (pointerup's timestamp to the last result written) and data-timings (milliseconds per step), and
 * each model's data-proba.
 */
(function (root) {
  "use strict";

  var picture = root.LussiPadPicture;

  /** base64 text -> bytes, gunzipped by the browser's DecompressionStream. */
  function unpack(text) {
    var binary = atob(text), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).arrayBuffer();
  }

  function activate(tf, x, name) {
    if (name === "linear") return x;
    return tf[name](x);  // relu, softmax (last axis, as Keras), sigmoid, tanh
  }

  /** One layer of export.py's list as TensorFlow.js ops. */
  function applyLayer(tf, layer, x, tensor) {
    switch (layer.type) {
      case "dense":
        x = tf.matMul(x, tensor(layer.kernel));
        return activate(tf, layer.bias ? tf.add(x, tensor(layer.bias)) : x, layer.activation);
      case "conv2d":
        x = tf.conv2d(x, tensor(layer.kernel), layer.strides, layer.padding, "NHWC", layer.dilation);
        return activate(tf, layer.bias ? tf.add(x, tensor(layer.bias)) : x, layer.activation);
      case "batchnorm":
        return tf.batchNorm(x, tensor(layer.mean), tensor(layer.variance), layer.beta && tensor(layer.beta),
                            layer.gamma && tensor(layer.gamma), layer.epsilon);
      case "maxpool":
        return tf.maxPool(x, layer.pool, layer.strides, layer.padding);
      case "flatten":
        return tf.reshape(x, [x.shape[0], -1]);
      case "activation":
        return activate(tf, x, layer.activation);
      default:
        throw new Error("unknown layer type " + layer.type);
    }
  }

  /** A network: its spec and forward(pixels) -> probabilities (Float32Array, classes order). */
  function network(tf, spec, buffer) {
    // Little-endian float32, as export.py writes (every platform a browser runs on is little-endian).
    var values = new Float32Array(buffer), tensors = {};
    // Every weight becomes a tensor now, outside tf.tidy, which would dispose it after the first pass.
    spec.layers.forEach(function (layer) {
      Object.keys(layer).forEach(function (key) {
        var ref = layer[key];
        if (ref && ref.shape) {
          var size = ref.shape.reduce(function (a, b) { return a * b; }, 1);
          tensors[ref.offset] = tf.tensor(values.subarray(ref.offset, ref.offset + size), ref.shape, "float32");
        }
      });
    });
    function tensor(ref) { return tensors[ref.offset]; }
    function forward(pixels) {
      return tf.tidy(function () {
        // network_inputs: uint8 / 255 in float32 (double division then fround is the float32 quotient).
        var x = tf.tensor(Float32Array.from(pixels, function (v) { return v / 255; }), [1].concat(spec.input_shape));
        spec.layers.forEach(function (layer) { x = applyLayer(tf, layer, x, tensor); });
        return x;
      }).dataSync();
    }
    return { spec: spec, forward: forward };
  }

  /** The KNN: exact squared distances |q|^2 + |x|^2 - 2 q.x in integers, ties to the smaller index. */
  function knn(spec, buffer) {
    var n = spec.n_train, d = 784, all = new Uint8Array(buffer), labels = all.subarray(0, n);
    var images = all.subarray(n, n + n * d), norms = new Float64Array(n), classes = spec.classes;
    for (var i = 0; i < n; i++) {
      var s = 0;
      for (var j = i * d; j < (i + 1) * d; j++) s += images[j] * images[j];
      norms[i] = s;
    }
    function predict(pixels) {
      var inked = [], qq = 0, k = spec.n_neighbors, best = [], p;
      for (p = 0; p < d; p++) if (pixels[p]) { inked.push(p); qq += pixels[p] * pixels[p]; }
      for (i = 0; i < n; i++) {
        var dot = 0, base = i * d;
        for (p = 0; p < inked.length; p++) dot += pixels[inked[p]] * images[base + inked[p]];
        var squared = qq + norms[i] - 2 * dot;
        if (best.length === k && squared >= best[k - 1].squared) continue;  // a later equal one loses the tie
        var at = best.length;
        while (at > 0 && best[at - 1].squared > squared) at--;
        best.splice(at, 0, { squared: squared, index: i, label: labels[i] });
        if (best.length > k) best.pop();
      }
      // models/knn._vote: 1/distance weights (exact matches take all the weight), float64 sums, float32 shares.
      var exact = best.some(function (b) { return b.squared === 0; }), votes = new Float64Array(classes.length);
      best.forEach(function (b) {
        var weight = spec.weights === "uniform" ? 1.0 : exact ? (b.squared === 0 ? 1.0 : 0.0) : 1.0 / Math.sqrt(b.squared);
        votes[classes.indexOf(b.label)] += weight;
      });
      var total = picture.npSum(votes, false);
      var shares = Float32Array.from(votes, function (v) { return v / total; });
      return { proba: shares, neighbours: best, image: image };
    }
    function image(index) { return images.subarray(index * d, (index + 1) * d); }
    return { spec: spec, predict: predict, image: image };
  }

  /** The `count` most probable classes, most probable first (ties: the earlier class). */
  function top(proba, classes, count) {
    var order = Array.from(proba, function (_, i) { return i; });
    order.sort(function (a, b) { return proba[b] - proba[a] || a - b; });
    return order.slice(0, count).map(function (i) { return { label: classes[i], p: proba[i] }; });
  }

  function paintDigit(canvas, pixels) {
    var ctx = canvas.getContext("2d"), image = ctx.createImageData(28, 28);
    for (var p = 0; p < 784; p++) {
      var level = 255 - pixels[p];  // dark ink on white, as the report's digit galleries
      image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = level;
      image.data[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showTop(box, proba, classes, count, votesOnly) {
    var list = box.querySelector("ol");
    list.textContent = "";
    top(proba, classes, count).forEach(function (entry) {
      if (votesOnly && entry.p === 0) return;  // a class no neighbour voted for
      var item = element("li"), bar = element("span", "lussi-pad-bar-fill");
      bar.style.width = (100 * entry.p).toFixed(1) + "%";
      item.appendChild(element("span", "lussi-pad-label", String(entry.label)));
      item.appendChild(element("span", "lussi-pad-track")).appendChild(bar);
      var percent = entry.p > 0 && entry.p < 0.0005 ? "<0.1%" : (100 * entry.p).toFixed(1) + "%";
      item.appendChild(element("span", "lussi-pad-p", percent));
      list.appendChild(item);
    });
    // Nine significant digits: a float32 read back exactly.
    box.dataset.proba = JSON.stringify(Array.from(proba, function (v) { return Number(v.toPrecision(9)); }));
  }

  function showNeighbours(box, result) {
    box.textContent = "";
    result.neighbours.forEach(function (b) {
      var figure = element("figure", "lussi-pad-neighbour"), canvas = element("canvas");
      canvas.width = canvas.height = 28;
      paintDigit(canvas, result.image(b.index));
      figure.appendChild(canvas);
      figure.appendChild(element("figcaption", "", b.label + " · " + Math.fround(Math.sqrt(b.squared)).toFixed(0)));
      figure.dataset.index = b.index;
      figure.dataset.label = b.label;
      figure.dataset.distance = Math.fround(Math.sqrt(b.squared));
      box.appendChild(figure);
    });
  }

  /** The pad's drawing surface: pointer strokes (mouse, pen, finger) kept from reveal.js and the page. */
  function surface(canvas, penWidth, onStrokeEnd) {
    var ctx = canvas.getContext("2d", { willReadFrequently: true }), active = null;
    function clear() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    function at(event) {
      // Canvas pixels from page pixels: the slide may be scaled (reveal.js) or the canvas shrunk by CSS.
      var box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
    }
    function segment(from, to) {
      ctx.beginPath();
      ctx.moveTo(from[0], from[1]);
      ctx.lineTo(to[0], to[1]);
      ctx.stroke();
    }
    function mine(event) {
      // Neither reveal.js (keyboard, swipe) nor the page (scrolling, text selection) sees a stroke.
      event.stopPropagation();
      if (event.cancelable) event.preventDefault();
      return active !== null && event.pointerId === active.id;
    }
    canvas.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      mine(event);
      canvas.setPointerCapture(event.pointerId);
      active = { id: event.pointerId, last: at(event) };
      segment(active.last, active.last);  // a tap leaves a dot
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!mine(event)) return;
      var events = (event.getCoalescedEvents && event.getCoalescedEvents()) || [];
      (events.length ? events : [event]).forEach(function (e) {
        var point = at(e);
        segment(active.last, point);
        active.last = point;
      });
    });
    function end(event) {
      if (!mine(event)) return;
      active = null;
      onStrokeEnd(event.timeStamp);
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    ["touchstart", "touchmove", "touchend", "mousedown", "wheel"].forEach(function (name) {
      canvas.addEventListener(name, function (event) { event.stopPropagation(); }, { passive: true });
    });
    ctx.lineWidth = penWidth;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";
    clear();
    return {
      clear: clear,
      grey: function () { return picture.greyFromRGBA(ctx.getImageData(0, 0, canvas.width, canvas.height).data); },
    };
  }

  function loadModels(tf, data) {
    var networks = data.networks.map(function (spec) {
      return unpack(spec.weights).then(function (buffer) { return network(tf, spec, buffer); });
    });
    return Promise.all([Promise.all(networks), unpack(data.knn.data).then(function (b) { return knn(data.knn, b); })]);
  }

  /**
   * Run every step a few times off the clock, on a training digit blown up to the pad's size: the first
   * calls are compiled and run slowly (the conversion's first call takes ~200 ms, later ones ~25 ms).
   */
  function warmUp(models, h, w) {
    var digit = models[1].image(0), grey = new Uint8Array(h * w), scale = Math.floor(Math.min(h, w) / 28);
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        var row = Math.floor(y / scale), col = Math.floor(x / scale);
        grey[y * w + x] = row < 28 && col < 28 ? 255 - digit[row * 28 + col] : 255;
      }
    }
    for (var i = 0; i < 3; i++) {
      var pixels = picture.convert(grey, h, w).pixels || digit;
      models[0].forEach(function (net) { net.forward(pixels); });
      models[1].predict(pixels);
    }
  }

  /** The pad's outputs in `rootElement`: blank() empties them, show(result) fills them and times each step. */
  function outputs(rootElement, data) {
    var digit = rootElement.querySelector("canvas.lussi-pad-digit"), status = rootElement.querySelector(".lussi-pad-status");
    function say(text) { status.textContent = text; }
    function blank() {
      rootElement.querySelectorAll(".lussi-pad-model").forEach(function (box) {
        box.querySelector("ol").textContent = "";
        delete box.dataset.proba;
      });
      rootElement.querySelector(".lussi-pad-neighbours").textContent = "";
      paintDigit(digit, new Uint8Array(784));
      rootElement.dataset.pixels = "";
    }
    function show(models, result, lap) {
      if (result.error) {
        blank();
        say(result.error);
        return;
      }
      paintDigit(digit, result.pixels);
      rootElement.dataset.pixels = Array.from(result.pixels).join(",");
      models[0].forEach(function (net, i) {
        var proba = net.forward(result.pixels);
        lap(net.spec.name);
        showTop(rootElement.querySelector('[data-model-index="' + i + '"]'), proba, net.spec.classes, data.top);
      });
      var vote = models[1].predict(result.pixels);
      lap("KNN");
      showTop(rootElement.querySelector('[data-model="knn"]'), vote.proba, data.knn.classes, data.top, true);
      showNeighbours(rootElement.querySelector(".lussi-pad-neighbours"), vote);
      say("");
    }
    return { say: say, blank: blank, show: show };
  }

  /** Start the pad inside `rootElement` (the fragment pad_html writes). */
  function start(rootElement) {
    var data = JSON.parse(rootElement.querySelector("script.lussi-pad-data").textContent);
    var canvas = rootElement.querySelector("canvas.lussi-pad-canvas"), out = outputs(rootElement, data);
    var models = null, pending = null, strokes = 0;
    function recognise(startedAt) {
      var times = {}, clock = performance.now();
      function lap(name) { var now = performance.now(); times[name] = Number((now - clock).toFixed(2)); clock = now; }
      var result = picture.convert(pad.grey(), canvas.height, canvas.width);
      lap("convert");
      out.show(models, result, lap);
      lap("DOM");
      rootElement.dataset.strokes = strokes;
      rootElement.dataset.timings = JSON.stringify(times);
      rootElement.dataset.latencyMs = (performance.now() - startedAt).toFixed(2);
    }
    var pad = surface(canvas, data.pen_width, function (startedAt) {
      strokes += 1;
      if (models) recognise(startedAt); else pending = startedAt;
    });
    rootElement.querySelector(".lussi-pad-clear").addEventListener("click", function () {
      pad.clear();
      out.blank();
      strokes = 0;
      rootElement.dataset.strokes = 0;
      if (models) out.say("Draw a digit.");
    });
    out.blank();
    var tf = root.tf;
    tf.enableProdMode();  // skips per-op argument checks and NaN scans; the graph is fixed
    tf.setBackend("cpu").then(function () { return loadModels(tf, data); }).then(function (loaded) {
      models = loaded;
      warmUp(models, canvas.height, canvas.width);
      rootElement.dataset.state = "ready";
      out.say("Draw a digit.");
      if (pending !== null) recognise(pending);
    }).catch(function (error) {
      rootElement.dataset.state = "error";
      out.say("The models could not be loaded: " + error);
    });
  }

  root.LussiPad = { start: start, top: top };
})(typeof globalThis !== "undefined" ? globalThis : this);
