import type { NextConfig } from "next";

const config: NextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  // No generated agent notes in the tree.
  agentRules: false,
  experimental: { agentUpgrade: false },
};

export default config;
