"use client";

// Users (admin): who may log in and with which role; add one, change a role, disable or enable.
import { useActionState } from "react";

import { dateTime } from "@/lib/format";
import { ROLES } from "@/lib/roles";
import type { ActionResult } from "@/lib/server";
import type { Schemas } from "@/lib/types";
import { PASSWORD, REASON } from "@/lib/validation";

type Action = (previous: ActionResult | null, form: FormData) => Promise<ActionResult>;

function Problem({ result, field }: { result: ActionResult | null; field: string }) {
  const problem = result && !result.ok ? result.fields[field] : undefined;
  return problem ? <div className="field-error">{problem}</div> : null;
}

function UserRow({ user, action }: { user: Schemas["UserPublic"]; action: Action }) {
  const [result, submit, pending] = useActionState(action, null);
  return (
    <tr data-testid={`user-${user.name}`}>
      <td>{user.name}</td>
      <td>{user.role}</td>
      <td>{user.active === false ? <span className="pill bad">disabled</span> : <span className="pill ok">active</span>}</td>
      <td className="mono small">{dateTime(user.created_at)}</td>
      <td>
        <form action={submit} className="inline">
          <input type="hidden" name="name" value={user.name} />
          <select name="role" defaultValue={user.role} aria-label={`role of ${user.name}`}>
            {ROLES.map((role) => (
              <option key={role} value={role}>
                {role}
              </option>
            ))}
          </select>
          <select name="active" defaultValue={user.active === false ? "false" : "true"} aria-label={`${user.name} active`}>
            <option value="true">active</option>
            <option value="false">disabled</option>
          </select>
          <input name="reason" placeholder="reason" minLength={REASON.min} maxLength={REASON.max} required size={14} />
          <button type="submit" disabled={pending}>
            Update
          </button>
        </form>
        <Problem result={result} field="reason" />
        {result && !(result.ok === false && result.fields.reason) ? <div className={`small ${result.ok ? "pos" : "neg"}`}>{result.message}</div> : null}
      </td>
    </tr>
  );
}

export function UsersAdmin({ users, add, update }: { users: Schemas["UserPublic"][]; add: Action; update: Action }) {
  const [result, submit, pending] = useActionState(add, null);
  return (
    <div className="stack">
      <div className="table-wrap">
        <table data-testid="users-table">
          <thead>
            <tr>
              <th>name</th>
              <th>role</th>
              <th>state</th>
              <th>created</th>
              <th>change</th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <UserRow key={user.id} user={user} action={update} />
            ))}
          </tbody>
        </table>
      </div>
      <form action={submit} className="inline" data-testid="add-user-form">
        <label>
          name
          <input name="name" required maxLength={64} autoComplete="off" aria-invalid={result && !result.ok && result.fields.name ? true : undefined} />
          <Problem result={result} field="name" />
        </label>
        <label>
          role
          <select name="role" defaultValue="viewer">
            {ROLES.map((role) => (
              <option key={role} value={role}>
                {role}
              </option>
            ))}
          </select>
          <Problem result={result} field="role" />
        </label>
        <label>
          password ({PASSWORD.min}–{PASSWORD.max} characters)
          <input name="password" type="password" required minLength={PASSWORD.min} maxLength={PASSWORD.max} autoComplete="new-password" />
          <Problem result={result} field="password" />
        </label>
        <button type="submit" disabled={pending}>
          Add user
        </button>
      </form>
      {result ? (
        <p className={`banner small ${result.ok ? "ok" : "bad"}`} role="status">
          {result.message}
        </p>
      ) : null}
    </div>
  );
}
