/** A progress report. Totals are known once the files to transfer have been listed. */
export interface ProgressEvent {
  bytesDone: number;
  bytesTotal?: number;
  filesDone: number;
  filesTotal?: number;
  /** The artifact path whose bytes moved last. */
  path?: string;
}

/** Tracks bytes and files for one user call and reports them through `onProgress`. */
export class Progress {
  bytesDone = 0;
  filesDone = 0;

  constructor(
    private readonly onProgress: ((event: ProgressEvent) => void) | undefined,
    readonly bytesTotal?: number,
    readonly filesTotal?: number,
  ) {}

  bytes(delta: number, path: string): void {
    this.bytesDone += delta;
    this.emit(path);
  }

  file(path: string): void {
    this.filesDone++;
    this.emit(path);
  }

  private emit(path: string): void {
    this.onProgress?.({
      bytesDone: this.bytesDone,
      filesDone: this.filesDone,
      ...(this.bytesTotal === undefined ? {} : { bytesTotal: this.bytesTotal }),
      ...(this.filesTotal === undefined ? {} : { filesTotal: this.filesTotal }),
      path,
    });
  }
}
