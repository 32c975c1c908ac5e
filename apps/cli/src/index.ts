export * as Cli from "./Cli.js"
