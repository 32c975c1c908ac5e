export * as Worker from "./Worker.js"
