// Runs once when the server starts: in production the console refuses to serve without a session secret.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME === "nodejs") {
    const { refuseWithoutSecret } = await import("./lib/startup");
    refuseWithoutSecret();
  }
}
