import type { Metadata } from "next";

import { KillSwitchControl } from "@/components/kill-switch";
import { LimitsForm } from "@/components/limits-form";
import { LimitsTable } from "@/components/limits-table";
import { StrategyToggles } from "@/components/strategy-toggles";
import { Card, Failed, NeedsRole, Pill } from "@/components/ui";
import { UsersAdmin } from "@/components/users-admin";
import { addUser, setKillSwitch, toggleStrategy, updateLimits, updateUser } from "@/lib/actions";
import { dateTime } from "@/lib/format";
import { NEEDS, may } from "@/lib/roles";
import { getMe, load } from "@/lib/server";

export const metadata: Metadata = { title: "Settings" };

export default async function SettingsPage() {
  const me = await getMe();
  const role = me.ok ? me.data.acting_role : undefined;
  const canKill = may(role, "killSwitch");
  const isAdmin = may(role, "manageUsers");
  const [killSwitch, strategies, limits, users] = await Promise.all([
    load((api) => api.GET("/kill-switch", { cache: "no-store" })),
    load((api) => api.GET("/strategies", { cache: "no-store" })),
    load((api) => api.GET("/risk/limits", { cache: "no-store" })),
    isAdmin ? load((api) => api.GET("/users", { cache: "no-store" })) : null,
  ]);
  return (
    <div className="stack">
      <h1>Settings</h1>
      {!canKill ? (
        <p className="banner" data-testid="read-only-note">
          You act as {role ?? "an unknown role"}: the controls below are read-only. The kill switch and strategies need the operator role,
          limits and users the admin role.
        </p>
      ) : !isAdmin ? (
        <p className="banner small">You act as operator: the kill switch and strategies are yours; limits and users are for admins.</p>
      ) : null}
      <Card title="Kill switch" testId="settings-kill-switch">
        {!killSwitch.ok ? (
          <Failed what="the kill switch" result={killSwitch} />
        ) : (
          <>
            <p>
              <Pill tone={killSwitch.data.engaged ? "bad" : "ok"} testId="kill-switch-state">
                {killSwitch.data.engaged ? "engaged" : "off"}
              </Pill>{" "}
              {killSwitch.data.engaged ? (
                <span className="small">
                  {killSwitch.data.reason || "no reason given"}
                  {killSwitch.data.set_by ? ` · by ${killSwitch.data.set_by}` : ""}
                  {killSwitch.data.since ? ` · since ${dateTime(killSwitch.data.since)}` : ""}
                </span>
              ) : (
                <span className="small muted">Trading is allowed.</span>
              )}
            </p>
            <KillSwitchControl engaged={killSwitch.data.engaged} canOperate={canKill} action={setKillSwitch} />
          </>
        )}
      </Card>
      <Card title="Strategies">
        {strategies.ok ? (
          <StrategyToggles strategies={strategies.data.data} canToggle={may(role, "toggleStrategies")} action={toggleStrategy} />
        ) : (
          <Failed what="strategies" result={strategies} />
        )}
      </Card>
      <Card title="Risk limits">
        {!limits.ok ? (
          <Failed what="risk limits" result={limits} />
        ) : isAdmin ? (
          <LimitsForm limits={limits.data} action={updateLimits} />
        ) : (
          <>
            <NeedsRole role={role} needed={NEEDS.editLimits} what="Changing the risk limits" />
            <LimitsTable limits={limits.data} />
          </>
        )}
      </Card>
      {isAdmin ? (
        <Card title="Users">{users && users.ok ? <UsersAdmin users={users.data.data} add={addUser} update={updateUser} /> : users ? <Failed what="users" result={users} /> : null}</Card>
      ) : null}
    </div>
  );
}
