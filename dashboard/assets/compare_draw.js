// Drawing a digit with the mouse (or a finger) on the compare page's canvas: white strokes on
// black, like MNIST. Listeners sit on the document, so they work for a canvas rendered later.
(function () {
  "use strict";
  var CANVAS_ID = "cmp-canvas";
  var CLEAR_ID = "cmp-draw-clear";
  var drawing = null;

  function blank(canvas) {
    var pen = canvas.getContext("2d");
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, canvas.width, canvas.height);
    canvas.dataset.ready = "1";
  }

  function point(canvas, event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (canvas.width / box.width),
      y: (event.clientY - box.top) * (canvas.height / box.height),
    };
  }

  document.addEventListener("pointerdown", function (event) {
    var canvas = event.target;
    if (!canvas || canvas.id !== CANVAS_ID) { return; }
    if (!canvas.dataset.ready) { blank(canvas); }
    var pen = canvas.getContext("2d");
    pen.strokeStyle = "#fff";
    pen.fillStyle = "#fff";
    pen.lineWidth = canvas.width / 11;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    var at = point(canvas, event);
    pen.beginPath();
    pen.arc(at.x, at.y, pen.lineWidth / 2, 0, 2 * Math.PI);
    pen.fill();
    drawing = { canvas: canvas, pen: pen, last: at };
    if (canvas.setPointerCapture) { canvas.setPointerCapture(event.pointerId); }
    event.preventDefault();
  });

  document.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    var at = point(drawing.canvas, event);
    drawing.pen.beginPath();
    drawing.pen.moveTo(drawing.last.x, drawing.last.y);
    drawing.pen.lineTo(at.x, at.y);
    drawing.pen.stroke();
    drawing.last = at;
  });

  function stop() { drawing = null; }
  document.addEventListener("pointerup", stop);
  document.addEventListener("pointercancel", stop);

  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("#" + CLEAR_ID) : null;
    var canvas = document.getElementById(CANVAS_ID);
    if (button && canvas) { blank(canvas); }
  });
})();
