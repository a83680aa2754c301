import { type Command, InvalidArgumentError } from 'commander';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--include`/`--exclude`, repeatable. */
export function withSelect(command: Command): Command {
  return command
    .option(
      '--include <glob>',
      'only paths matching the glob (repeatable; without "/" it matches file names)',
      collect,
    )
    .option('--exclude <glob>', 'skip paths matching the glob (repeatable; wins over --include)', collect);
}

export function withDryRun(command: Command): Command {
  return command.option('-n, --dry-run', 'print what would be done and change nothing');
}

/** `-r/--recursive`: accepted for aws-cli and rclone habits; directories are always recursive. */
export function withRecursive(
  command: Command,
  help = 'accepted for habit: directories are always copied whole',
): Command {
  return command.option('-r, --recursive', help);
}

/** A non-negative integer option value; anything else is a usage error (exit 2). */
export function integer(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max) {
      throw new InvalidArgumentError(
        `${name} must be an integer between 0 and ${max}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}
