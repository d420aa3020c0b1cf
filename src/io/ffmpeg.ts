/**
 * Debian's ffmpeg/ffprobe as child processes: the one place that starts them, for lepton/audio
 * (non-WAV audio) and lepton/vision (video). A missing program becomes an error naming the Debian
 * package; the exit is a promise that never rejects, so nobody has to await it to avoid an
 * unhandled rejection.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface FfmpegProcess {
  child: ChildProcess;
  /** The exit code, or an error when the program could not start (not installed: names the package). */
  exited: Promise<{ code: number | null; error?: Error }>;
  /** The last line ffmpeg wrote to stderr (its error message), for errors. */
  lastLine(): string;
}

/** Starts `tool` with `args`; `what` names the caller in errors. */
export function runFfmpeg(
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
  what: string,
  stdin: 'pipe' | 'ignore' = 'ignore',
): FfmpegProcess {
  const child = spawn(tool, args, { stdio: [stdin, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) =>
      resolve({
        code: null,
        error:
          e.code === 'ENOENT'
            ? new Error(
                `${what}: '${tool}' is not installed; install Debian's ffmpeg package (apt-get install ffmpeg), which provides ffmpeg and ffprobe`,
              )
            : e,
      }),
    );
    child.on('close', (code) => resolve({ code }));
  });
  return { child, exited, lastLine: () => stderr.trim().split('\n').pop() || 'no message' };
}
