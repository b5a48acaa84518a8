/**
 * The error every plug-in problem becomes: one line naming the file and what
 * is wrong; a ConfigError, so the CLI prints it and exits 2 (src/cli.ts).
 */
import { ConfigError } from '../config/config.js';

export class PluginError extends ConfigError {}
