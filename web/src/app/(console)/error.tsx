"use client";

export default function ConsoleError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <section className="card">
      <h1>This page failed</h1>
      <p className="banner bad" role="alert">
        {error.message || "An unexpected error."}
        {error.digest ? <span className="muted small"> (reference {error.digest})</span> : null}
      </p>
      <button type="button" onClick={reset}>
        Try again
      </button>
    </section>
  );
}
