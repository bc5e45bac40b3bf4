/**
 * Runs work once the page has painted the launcher: the widget's first render shows the launcher alone, and storage
 * reads, the connection and the panel follow here, so none of them delays the first paint (issue 7, scenario 8).
 */

/** Longest wait for a frame before the work runs anyway (frames stall in background tabs and on a busy machine). */
const FRAME_WAIT_MS = 500;

/**
 * Calls `task` once, in a task after the next frame (rendering, including paint, runs inside the frame, so a task
 * queued from requestAnimationFrame runs after it). A hidden page paints nothing: there it runs in the next task.
 * Returns a function that cancels the call.
 */
export function afterPaint(task: () => void): () => void {
  let pending = true;
  let frame = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fallback: ReturnType<typeof setTimeout> | undefined;
  const cancel = (): void => {
    pending = false;
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    clearTimeout(fallback);
  };
  const run = (): void => {
    if (!pending) return;
    cancel();
    task();
  };
  if (document.visibilityState === 'hidden') {
    timer = setTimeout(run, 0);
  } else {
    frame = requestAnimationFrame(() => {
      timer = setTimeout(run, 0);
    });
    fallback = setTimeout(run, FRAME_WAIT_MS);
  }
  return cancel;
}
