import type { Metadata } from "next";

import { FillsTable, OrdersTable } from "@/components/tables";
import { Card, Empty, Failed, Pager } from "@/components/ui";
import { dayBound, offsetOf, one } from "@/lib/query";
import { load } from "@/lib/server";
import { ORDER_STATUSES } from "@/lib/tones";
import type { Schemas } from "@/lib/types";

export const metadata: Metadata = { title: "Orders and fills" };

const LIMIT = 50;

export default async function OrdersPage({ searchParams }: PageProps<"/orders">) {
  const search = await searchParams;
  const offset = offsetOf(search);
  const filters = {
    status: one(search, "status"),
    strategy: one(search, "strategy"),
    from: one(search, "from"),
    to: one(search, "to"),
  };
  const range = { since: dayBound(filters.from, false), until: dayBound(filters.to, true) };
  const status = ORDER_STATUSES.find((s) => s === filters.status) as Schemas["OrderStatus"] | undefined;
  const [orders, fills, strategies] = await Promise.all([
    load((api) =>
      api.GET("/orders", {
        params: { query: { limit: LIMIT, offset, status, strategy: filters.strategy, ...range } },
        cache: "no-store",
      }),
    ),
    load((api) => api.GET("/fills", { params: { query: { limit: 20, strategy: filters.strategy, ...range } }, cache: "no-store" })),
    load((api) => api.GET("/strategies", { cache: "no-store" })),
  ]);
  return (
    <div className="stack">
      <h1>Orders and fills</h1>
      <Card>
        <form className="inline" method="get">
          <label>
            status (latest)
            <select name="status" defaultValue={filters.status ?? ""}>
              <option value="">any</option>
              {ORDER_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            strategy
            <select name="strategy" defaultValue={filters.strategy ?? ""}>
              <option value="">any</option>
              {(strategies.ok ? strategies.data.data : []).map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            from (UTC day)
            <input type="date" name="from" defaultValue={filters.from ?? ""} />
          </label>
          <label>
            to (UTC day)
            <input type="date" name="to" defaultValue={filters.to ?? ""} />
          </label>
          <button type="submit">Filter</button>
        </form>
      </Card>
      <Card title="Orders">
        {!orders.ok ? (
          <Failed what="orders" result={orders} />
        ) : orders.data.data.length === 0 ? (
          <Empty>No orders match.</Empty>
        ) : (
          <>
            <OrdersTable orders={orders.data.data} />
            <Pager path="/orders" params={filters} count={orders.data.count} limit={LIMIT} offset={offset} />
          </>
        )}
      </Card>
      <Card title="Latest fills">
        {!fills.ok ? (
          <Failed what="fills" result={fills} />
        ) : fills.data.data.length === 0 ? (
          <Empty>No fills match.</Empty>
        ) : (
          <>
            <FillsTable fills={fills.data.data} />
            <p className="small muted">
              The {fills.data.data.length} newest of {fills.data.count}.
            </p>
          </>
        )}
      </Card>
    </div>
  );
}
