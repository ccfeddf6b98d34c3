"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

import type { Role } from "@/lib/types";
import { may } from "@/lib/roles";

const LINKS: { href: string; label: string; show?: (role: Role | undefined) => boolean }[] = [
  { href: "/", label: "Overview" },
  { href: "/rounds", label: "Rounds" },
  { href: "/decisions", label: "Decisions" },
  { href: "/orders", label: "Orders" },
  { href: "/risk", label: "Risk" },
  { href: "/audit", label: "Audit", show: (role) => may(role, "readAudit") },
  { href: "/backtests", label: "Backtests" },
  { href: "/settings", label: "Settings" },
];

export function NavLinks({ role }: { role: Role | undefined }) {
  const pathname = usePathname();
  return (
    <nav aria-label="Console">
      {LINKS.filter((link) => !link.show || link.show(role)).map((link) => {
        const current = link.href === "/" ? pathname === "/" : pathname === link.href || pathname.startsWith(`${link.href}/`);
        return (
          <Link key={link.href} href={link.href} aria-current={current ? "page" : undefined}>
            {link.label}
          </Link>
        );
      })}
    </nav>
  );
}
