import type { StorageDriver } from '../driver.js';

/** The members a layer may replace; `undefined` for an optional member means the driver lacks it. */
export type DriverOverrides = Partial<Omit<StorageDriver, 'capabilities' | 'secrets'>>;

/**
 * A driver that behaves as `driver` except for `overrides`. Optional members the inner driver lacks
 * stay absent, so capabilities derived from the members (rclone's `features.Fill`) see through
 * every layer.
 */
export function wrapDriver(driver: StorageDriver, overrides: DriverOverrides): StorageDriver {
  const out: StorageDriver = {
    capabilities: driver.capabilities,
    ...(driver.secrets ? { secrets: driver.secrets } : {}),
    write: overrides.write ?? ((key, body, options) => driver.write(key, body, options)),
    read: overrides.read ?? ((key, options) => driver.read(key, options)),
    stat: overrides.stat ?? ((key, options) => driver.stat(key, options)),
    list: overrides.list ?? ((prefix, options) => driver.list(prefix, options)),
    delete: overrides.delete ?? ((key, options) => driver.delete(key, options)),
    close: overrides.close ?? (() => driver.close()),
  };
  const optional = [
    'writeFromFile',
    'readToFile',
    'mkdir',
    'deleteMany',
    'locate',
    'copy',
    'multipart',
    'presign',
  ] as const;
  for (const name of optional) {
    if (driver[name] === undefined) continue;
    const member = name in overrides ? overrides[name] : bindMember(driver, name);
    if (member !== undefined) Object.assign(out, { [name]: member });
  }
  return out;
}

function bindMember(driver: StorageDriver, name: keyof StorageDriver): unknown {
  const member = driver[name];
  return typeof member === 'function' ? member.bind(driver) : member;
}
