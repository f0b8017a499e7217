// Board drag and drop: dropping a card on a column submits that card's own Move form with
// the column's status. Without this file the Move buttons do the same (keyboard included).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const board = document.querySelector("[data-board]");
  if (!board) return;
  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest("[data-card]");
    if (card) event.dataTransfer.setData("text/plain", card.dataset.card);
  });
  board.querySelectorAll("[data-status]").forEach((column) => {
    column.addEventListener("dragover", (event) => event.preventDefault());
    column.addEventListener("drop", (event) => {
      event.preventDefault();
      const id = event.dataTransfer.getData("text/plain");
      const card = board.querySelector(`[data-card="${CSS.escape(id)}"]`);
      const form = card && card.querySelector("form.move");
      if (!form) return;
      form.querySelector("select[name=status]").value = column.dataset.status;
      form.submit();
    });
  });
});
