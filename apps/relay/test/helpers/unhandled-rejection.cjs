// Test-only preload (NODE_OPTIONS=--require): once the relay has printed its
// start-up line, rejects a promise nobody handles, as automerge-repo does when
// a peer announces a document and never sends it (its 60 s `whenReady`),
// without making a test wait a minute.
const write = process.stdout.write.bind(process.stdout);
let fired = false;
process.stdout.write = (...args) => {
  const written = write(...args);
  if (!fired) {
    fired = true;
    setTimeout(() => {
      Promise.reject(new Error("test: a rejection nobody handles"));
    }, 50);
  }
  return written;
};
