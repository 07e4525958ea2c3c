/**
 * Dashboard roles, per dashboard user (`dashboard.users.<name>.role`, default `viewer`), or from
 * the identity provider's groups (`dashboard.oidc.roles`); the admin-token login is `admin`. Each role includes the ones before it:
 * - viewer: the pending list, one call's page, the policy page and explain;
 * - approver: + Approve / Deny (the policy's `approvers` still decide whose vote counts) and the history;
 * - admin: + the audit export.
 * Routes check the role on the server (context.ts); pages also hide what a role cannot use.
 */

export const dashboardRoles = ['viewer', 'approver', 'admin'] as const;
export type DashboardRole = (typeof dashboardRoles)[number];

/** What a role gates, and the least role that may do it. */
export const roleFor = {
  decide: 'approver',
  history: 'approver',
  export: 'admin',
} as const satisfies Record<string, DashboardRole>;

export type DashboardPermission = keyof typeof roleFor;

/** Whether `role` includes `needed`. */
export function hasRole(role: DashboardRole, needed: DashboardRole): boolean {
  return dashboardRoles.indexOf(role) >= dashboardRoles.indexOf(needed);
}

/** Whether `role` may do what `permission` names. */
export function may(role: DashboardRole, permission: DashboardPermission): boolean {
  return hasRole(role, roleFor[permission]);
}

const doing: Record<DashboardPermission, string> = {
  decide: 'approve or deny calls',
  history: 'read the audit history',
  export: 'export the audit history',
};

/** The refusal text for a signed-in person whose role falls short. */
export function roleRefusal(login: string, role: DashboardRole, permission: DashboardPermission, via: 'token' | 'oidc' = 'token'): string {
  const needed = roleFor[permission];
  const fix =
    via === 'oidc'
      ? `Ask to be added to a group your identity provider sends that dashboard.oidc.roles.${needed} lists, then sign in again.`
      : `Ask an operator to set dashboard.users.${login}.role to "${needed}" in airlock.config.json.`;
  return `Your dashboard role is ${role}, which may not ${doing[permission]} (that needs ${needed}). ${fix}`;
}
