// Stryker ignorer "message-args": no mutants inside the message argument of the library's error
// constructors (hbError(code, message, …), configError(option, message, …), new Error(message)).
// The contract fixes codes, classes, causes and the option an E_CONFIG names, not the wording;
// the option name is put into the message by configError's body, which is still mutated.
import { PluginKind, declareValuePlugin } from "@stryker-mutator/api/plugin";

const MESSAGE_ARG = { hbError: 1, configError: 1, Error: 0 };

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, "message-args", {
    shouldIgnore(path) {
      const parent = path.parentPath;
      if (parent === null || path.listKey !== "arguments") return undefined;
      if (!parent.isCallExpression() && !parent.isNewExpression()) return undefined;
      const callee = parent.node.callee;
      if (callee.type !== "Identifier" || !Object.hasOwn(MESSAGE_ARG, callee.name)) return undefined;
      return path.key === MESSAGE_ARG[callee.name] ? "an error message's wording (the contract fixes codes, not words)" : undefined;
    },
  }),
];
