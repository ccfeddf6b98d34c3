// Names for the API's shapes, all taken from the generated contract (never written by hand).
import type { components } from "./api-schema";

export type Schemas = components["schemas"];
export type Role = Schemas["Role"];
export type Me = Schemas["Me"];
export type Status = Schemas["Status"];
export type LiveState = Schemas["LiveState"];
export type FeedState = Schemas["FeedState"];
export type RiskEvent = Schemas["RiskEventRecord"];
export type KillSwitch = Schemas["KillSwitchPublic"];
export type RoundDetail = Schemas["RoundDetail"];
export type Decision = Schemas["DecisionPublic"];
export type BacktestRun = Schemas["BacktestRunPublic"];

/** A decision as the event stream carries it: the stored row, without the verdicts the history joins on. */
export type StreamDecision = Omit<Decision, "verdicts">;
export type StreamFill = Schemas["FillRecord"];
export type StreamSettlement = Schemas["SettlementRecord"];
