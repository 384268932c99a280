import init, { EdgepushClient } from "@edgepush/client";
import { start } from "./app";

start(init, EdgepushClient);
