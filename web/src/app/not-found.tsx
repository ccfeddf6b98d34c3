import Link from "next/link";

export default function NotFound() {
  return (
    <main className="login card">
      <h1>Not found</h1>
      <p>Nothing lives at this address.</p>
      <Link href="/">Back to the overview</Link>
    </main>
  );
}
