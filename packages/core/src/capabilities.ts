import type { DriverCapabilities, StorageDriver } from './driver.js';
import { ArtifactsError } from './errors.js';

/**
 * The capabilities that are true exactly when the driver has their members (rclone's
 * `features.Fill`): a declared flag must match what the driver implements.
 */
export function implementedCapabilities(
  driver: StorageDriver,
): Pick<DriverCapabilities, 'multipartUpload' | 'presign' | 'serverSideCopy'> {
  return {
    multipartUpload: driver.multipart !== undefined,
    presign: driver.presign !== undefined,
    serverSideCopy: typeof driver.copy === 'function' && typeof driver.locate === 'function',
  };
}

/** Refuses a driver whose declared capabilities disagree with its members (checked at open). */
export function checkCapabilities(driver: StorageDriver, backend: string): void {
  for (const [name, implemented] of Object.entries(implementedCapabilities(driver))) {
    const declared = driver.capabilities[name as keyof DriverCapabilities];
    if (declared !== implemented) {
      throw new ArtifactsError(
        'internal',
        `${backend}: the driver declares ${name} ${String(declared)} but ${implemented ? 'implements' : 'lacks'} its members`,
      );
    }
  }
}

/**
 * What a file-protocol store (SFTP, FTP, HDFS) offers: ranged reads and real directories, no
 * checksums core can compare, no multipart upload, presigning or server-side copy, no Content-Type.
 */
export const FILE_TREE_CAPABILITIES: DriverCapabilities = Object.freeze({
  rangeRead: true,
  directories: true,
  checksums: [],
  multipartUpload: false,
  presign: false,
  serverSideCopy: false,
  contentTypes: false,
});

/**
 * What an object store (S3, GCS, Azure) offers: ranged reads and server-side copy, no directories of
 * its own, the checksums it reports, and multipart uploads and presigned URLs when it can sign.
 */
export function objectStoreCapabilities(
  checksums: DriverCapabilities['checksums'],
  canSign: boolean,
): DriverCapabilities {
  return {
    rangeRead: true,
    directories: false,
    checksums,
    multipartUpload: canSign,
    presign: canSign,
    serverSideCopy: true,
  };
}
