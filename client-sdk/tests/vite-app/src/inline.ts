import init, { EdgepushClient } from "@edgepush/client/inline";
import { start } from "./app";

start(init, EdgepushClient);
