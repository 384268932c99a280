// The repository has no @types/react: React's own API is untyped here (any); what tsc checks is
// the app's use of the SDK's helpers against their declarations.
declare module "react";
declare module "react-dom/client";
