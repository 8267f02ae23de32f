/**
 * The `cuffia` command line (contracts/cli-config-control.md): argv to a command of src/cli/ and
 * its exit code. With src/cli/, the only code that touches `process` (argv, environment, signals,
 * exit codes).
 */
import { type CliResult, EXIT, err, out, version } from "./cli/io.js";

const HELP = `cuffia — a call-centre agent phone on a Raspberry Pi and a USB headset

usage: cuffia COMMAND [options]

commands:
  run [-c FILE]                         run the daemon
  check [-c FILE]                       validate a config file (exit 0 valid, 78 invalid)
  ctl COMMAND [ARG] [--socket PATH]     talk to the running daemon:
                                          status, subscribe, answer, reject, hangup,
                                          mute [on|off], hold [on|off], transfer TARGET,
                                          dial TARGET, dtmf DIGITS, login, logout,
                                          pause [REASON], unpause, ready
  devices                               list headsets, serial ports and sound cards
  doctor [-c FILE]                      check what the config expects against the box
  headset inspect --descriptor FILE | --hidraw /dev/hidrawN
                                        decode a HID report descriptor (exit 3: not a headset)
  lcd preview [--size 20x4] [--language it] [--charset a00] [--situation NAME]
                                        show what the LCD displays in each situation
  schema [--markdown]                   print the config's JSON Schema (or the README's reference table)

The config comes from -c, else $CUFFIA_CONFIG, else /etc/cuffia/config.yaml.
Options: --help, --version.
`;

/**
 * The commands that print through here. Every command loads its module when asked for: `cuffia
 * check` never loads node-hid or serialport, and the daemon (`run`) never holds the code of
 * `ctl`, `check`, `schema` (the config reference) or `doctor` in memory.
 */
const COMMANDS: Record<string, (args: string[]) => Promise<CliResult>> = {
  schema: async (args) => (await import("./cli/schema.js")).schemaCommand(args),
  headset: async (args) => (await import("./cli/headset.js")).headsetCommand(args),
  lcd: async (args) => (await import("./cli/lcd.js")).lcdCommand(args),
  doctor: async (args) => (await import("./cli/doctor.js")).doctorCommand(args),
  devices: async () => (await import("./cli/devices.js")).devicesCommand(),
};

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    out(HELP);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "--version" || command === "-V") {
    out(version());
    return EXIT.ok;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    out(HELP);
    return EXIT.ok;
  }
  try {
    switch (command) {
      case "run":
        return await (await import("./cli/run.js")).runCommand(rest);
      case "check":
        return await (await import("./cli/check.js")).checkCommand(rest);
      case "ctl":
        return await (await import("./cli/ctl.js")).ctlCommand(rest);
      default: {
        const extra = COMMANDS[command];
        if (extra) {
          const r = await extra(rest);
          if (r.stdout) process.stdout.write(r.stdout);
          if (r.stderr) process.stderr.write(r.stderr);
          return r.code;
        }
        err(`unknown command "${command}"\n`);
        err(HELP);
        return EXIT.usage;
      }
    }
  } catch (e) {
    if (
      e instanceof Error &&
      "code" in e &&
      (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
    ) {
      err(e.message);
      return EXIT.usage;
    }
    err(`cuffia: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT.fatal;
  }
}
