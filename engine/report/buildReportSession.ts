/**
 * `kiln build --report FILE`: checks the file name before the build starts, records the build
 * as it runs, and writes the report when it ends — a failed build's too, up to its failure, so
 * CI can attach it. A report that cannot be written after a failure is said on stderr; the
 * build's own error stays the one that counts.
 */
import type { Progress } from '../progress/progress.js';
import type { ImageRecord, Store } from '../store/store.js';
import { BuildRecorder, type RecorderOptions } from './buildRecorder.js';
import { checkReportPath, reportFormat, writeReport } from './reportFile.js';

export interface BuildReportSession {
  recorder: BuildRecorder;
  /** Writes the report of a build that ended (with its image, or with its error). */
  write(store: Store, ending: { record: ImageRecord } | { error: unknown }): Promise<void>;
}

export function startBuildReport(file: string, progress: Progress, o: RecorderOptions): BuildReportSession {
  const format = reportFormat(file, '--report');
  const path = checkReportPath(file, '--report');
  const recorder = new BuildRecorder(o);
  progress.onEvent(recorder.event);
  return {
    recorder,
    write: async (store, ending) => {
      const layerSize = (diffId: string): Promise<number | undefined> => store.blobs.size(diffId).catch(() => undefined);
      const report = 'record' in ending
        ? await recorder.finish({ imageId: ending.record.id, imageSize: await store.imageSize(ending.record), layerSize })
        : await recorder.finish({ error: ending.error, layerSize });
      const title = `kiln build ${report.outcome === 'failed' ? 'failed' : 'report'}: ${report.tags[0] ?? report.dockerfile}`;
      if ('record' in ending) {
        await writeReport(path, format, 'buildPage', title, report);
        return;
      }
      try {
        await writeReport(path, format, 'buildPage', title, report);
        process.stderr.write(`build report (up to the failure) written to ${file}\n`);
      } catch (e) {
        process.stderr.write(`kiln: could not write the build report: ${(e as Error).message}\n`);
      }
    },
  };
}
