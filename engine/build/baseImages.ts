/**
 * The images a build starts from or reads (FROM, COPY --from, --mount from=): found in the
 * store, else pulled when the build may pull; a `--build-context NAME=docker-image://REF` name
 * stands for its REF. Each is looked up once per build, however many stages name it; a failure
 * is located at the line that named the image.
 */
import type { StageInstruction } from '../../grammar/recipe.js';
import { KilnError } from '../errors/kilnError.js';
import type { Platform } from '../image/platform.js';
import type { PlannedStage } from '../plan/graph.js';
import type { ImageRecord, Store } from '../store/store.js';

/** A line that names an image: an instruction or a stage's FROM. */
export type ImageSite = StageInstruction | PlannedStage['stage']['from'];

export type ImagePull = (ref: string, platform: Platform) => Promise<ImageRecord>;

export class BaseImages {
  private readonly found = new Map<string, Promise<ImageRecord>>();

  constructor(
    private readonly store: Store,
    /** Named contexts that stand for images. */
    private readonly aliases: ReadonlyMap<string, string>,
    private readonly pull: ImagePull | undefined,
    private readonly dockerfileName: string,
  ) {}

  resolve(ref: string, platform: Platform, where: ImageSite): Promise<ImageRecord> {
    const aliased = this.aliases.get(ref) ?? ref;
    let p = this.found.get(aliased);
    if (!p) {
      p = this.lookUp(aliased, platform);
      this.found.set(aliased, p);
    }
    return p.catch((e: unknown) => {
      if (e instanceof KilnError && e.location?.line === undefined) {
        throw new KilnError(e.code, e.message, { location: { file: this.dockerfileName, line: where.range.start.line, column: where.range.start.column }, exitCode: e.exitCode });
      }
      throw e;
    });
  }

  private async lookUp(ref: string, platform: Platform): Promise<ImageRecord> {
    const local = await this.store.resolveImage(ref);
    if (local) return local;
    if (this.pull) return this.pull(ref, platform);
    throw new KilnError('IMAGE_NOT_FOUND', `${ref}: image not found in the store (kiln pull ${ref}, kiln load -i FILE, or build it with -t ${ref})`);
  }
}
