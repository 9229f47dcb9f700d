// The emoji picker of the visitor widget and the agent console, an ES module that each
// imports on first use (the widget from /api/visitor/assets/, the console from /static/).
// No font or image is fetched: the emoji are text, drawn by the system's emoji font.
//
// A compact, curated set rather than all of Unicode: the faces, gestures and things that
// service chats use, each with its names in Chinese and English (and its shortcode where
// the box converts one, core/emoji.py), so a search for 笑, "smile" or "thumbsup" finds
// it. The names are data, like Unicode's own annotations, not UI text: the UI's few
// words (the search box) come from the caller's catalog as `labels`.
//
// openPicker({ before, styleRoot, labels, lang, onPick, onClose }) puts the picker just
// above `before` (the composer) and returns { close }. Styles go in as a constructed
// stylesheet of styleRoot (the widget's shadow root, or the document), which a strict
// Content-Security-Policy without 'unsafe-inline' allows.

const CSS = `
.cb-emoji { border-top: 1px solid #eaeef2; background: #fff; display: flex; flex-direction: column;
  max-height: 232px; }
.cb-emoji input { margin: 8px 10px 4px; padding: 5px 8px; border: 1px solid #d0d7de;
  border-radius: 6px; font: inherit; font-size: 14px; }
.cb-emoji .cb-tabs { display: flex; gap: 2px; padding: 0 8px; }
.cb-emoji .cb-tabs button[aria-selected="true"] { background: #eff6ff; }
.cb-emoji .cb-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(36px, 1fr));
  overflow-y: auto; padding: 4px 8px 8px; overscroll-behavior: contain; }
.cb-emoji button { border: 0; background: none; border-radius: 6px; padding: 0; height: 36px;
  font-size: 22px; line-height: 36px; cursor: pointer;
  font-family: "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji", sans-serif; }
.cb-emoji button:hover, .cb-emoji button:focus-visible { background: #f0f2f5; outline: none; }
.cb-emoji .cb-none { padding: 8px 12px; color: #57606a; font-size: 13px; }`;

// [emoji, Chinese names, English names (shortcode first when the box has one)]
const GROUPS = [
  ["\u{1F600}", "表情", "Smileys", [
    ["\u{1F604}", "笑 开心 高兴", "smile happy"],
    ["\u{1F603}", "笑脸 开心", "smiley happy"],
    ["\u{1F600}", "咧嘴笑", "grinning"],
    ["\u{1F601}", "露齿笑 嘻嘻", "grin"],
    ["\u{1F606}", "大笑 哈哈", "laughing"],
    ["\u{1F602}", "笑哭 笑出眼泪", "joy laugh tears"],
    ["\u{1F923}", "笑翻 笑得打滚", "rofl"],
    ["\u{1F605}", "苦笑 尴尬 汗", "sweat_smile"],
    ["\u{1F642}", "微笑", "slightly_smiling_face smile"],
    ["\u{1F643}", "倒脸", "upside_down_face"],
    ["\u{1F609}", "眨眼", "wink"],
    ["\u{1F60A}", "害羞 脸红 微笑", "blush"],
    ["\u{1F607}", "天使 无辜", "innocent angel"],
    ["\u{1F60D}", "花痴 喜欢 爱心眼", "heart_eyes love"],
    ["\u{1F618}", "飞吻 亲亲", "kissing_heart kiss"],
    ["\u{1F60B}", "好吃 馋", "yum delicious"],
    ["\u{1F61B}", "吐舌头 调皮", "stuck_out_tongue"],
    ["\u{1F60E}", "酷 墨镜", "sunglasses cool"],
    ["\u{1F914}", "思考 想想 疑问", "thinking"],
    ["\u{1F610}", "无语 面无表情", "neutral_face"],
    ["\u{1F611}", "无表情", "expressionless"],
    ["\u{1F60F}", "得意 坏笑", "smirk"],
    ["\u{1F612}", "不高兴 嫌弃", "unamused"],
    ["\u{1F644}", "翻白眼", "roll_eyes"],
    ["\u{1F62C}", "龇牙 尴尬", "grimacing"],
    ["\u{1F60C}", "放心 松了口气", "relieved"],
    ["\u{1F614}", "沮丧 失落", "pensive"],
    ["\u{1F62A}", "困 瞌睡", "sleepy"],
    ["\u{1F634}", "睡觉 睡着", "sleeping"],
    ["\u{1F637}", "口罩 生病", "mask sick"],
    ["\u{1F635}", "晕 头晕", "dizzy_face"],
    ["\u{1F615}", "困惑 不解", "confused"],
    ["\u{1F61F}", "担心 忧虑", "worried"],
    ["\u{1F62E}", "惊讶 哦", "open_mouth surprised"],
    ["\u{1F632}", "震惊 吃惊", "astonished"],
    ["\u{1F633}", "脸红 不好意思", "flushed"],
    ["\u{1F97A}", "可怜 拜托", "pleading_face please"],
    ["\u{1F622}", "哭 难过 伤心", "cry sad"],
    ["\u{1F62D}", "大哭 痛哭", "sob"],
    ["\u{1F631}", "惊恐 尖叫 吓", "scream"],
    ["\u{1F61E}", "失望", "disappointed"],
    ["\u{1F613}", "汗 冷汗", "sweat"],
    ["\u{1F629}", "累 疲惫", "weary"],
    ["\u{1F624}", "生气 哼", "triumph huff"],
    ["\u{1F621}", "愤怒 发火", "rage"],
    ["\u{1F620}", "生气 恼火", "angry"],
    ["\u{1F917}", "拥抱 抱抱", "hugs"],
    ["\u{1F92B}", "嘘 安静", "shushing_face"],
    ["\u{1F910}", "闭嘴 保密", "zipper_mouth_face"],
    ["\u{1F648}", "不看 捂眼 害羞", "see_no_evil"],
    ["\u{1F440}", "眼睛 看", "eyes look"],
  ]],
  ["\u{1F44D}", "手势", "Gestures", [
    ["\u{1F44D}", "赞 点赞 好 棒", "thumbsup +1 like"],
    ["\u{1F44E}", "踩 不好", "thumbsdown -1"],
    ["\u{1F44C}", "好的 OK", "ok_hand"],
    ["\u{1F44F}", "鼓掌 拍手", "clap"],
    ["\u{1F44B}", "挥手 你好 再见", "wave hello bye"],
    ["\u{1F64F}", "谢谢 拜托 祈祷 合十", "pray thanks please"],
    ["\u{1F64C}", "欢呼 举手", "raised_hands"],
    ["\u{1F4AA}", "加油 肌肉 强", "muscle strong"],
    ["\u{1F91D}", "握手 合作", "handshake deal"],
    ["\u{261D}\u{FE0F}", "注意 一", "point_up"],
    ["\u{1F449}", "右边 指", "point_right"],
    ["\u{270C}\u{FE0F}", "胜利 耶", "victory peace"],
    ["\u{270A}", "拳头 加油", "fist"],
    ["\u{1F64B}", "举手 我", "raising_hand"],
    ["\u{1F937}", "耸肩 不知道", "shrug"],
  ]],
  ["\u{2764}\u{FE0F}", "符号", "Symbols", [
    ["\u{2764}\u{FE0F}", "爱心 喜欢 红心", "heart love"],
    ["\u{1F494}", "心碎 伤心", "broken_heart"],
    ["\u{1F496}", "闪亮的心", "sparkling_heart"],
    ["\u{1F525}", "火 热门 厉害", "fire hot"],
    ["\u{2B50}", "星星 收藏", "star"],
    ["\u{2728}", "闪亮 新", "sparkles"],
    ["\u{1F389}", "庆祝 恭喜 礼花", "tada celebrate congratulations"],
    ["\u{1F4AF}", "一百分 满分", "100 perfect"],
    ["\u{2705}", "完成 对 已解决", "white_check_mark done yes"],
    ["\u{2714}\u{FE0F}", "对勾 对", "heavy_check_mark check"],
    ["\u{274C}", "错 不行 取消", "x no cancel"],
    ["\u{26A0}\u{FE0F}", "警告 注意", "warning"],
    ["\u{2753}", "问号 疑问", "question"],
    ["\u{2757}", "感叹号 重要", "exclamation important"],
    ["\u{1F197}", "OK 好", "ok"],
    ["\u{1F198}", "求救 紧急", "sos help"],
  ]],
  ["\u{1F4E6}", "物品", "Objects", [
    ["\u{1F4A1}", "灯泡 想法 提示", "bulb idea"],
    ["\u{260E}\u{FE0F}", "电话", "phone telephone"],
    ["\u{1F4F1}", "手机", "iphone mobile"],
    ["\u{1F4BB}", "电脑 笔记本", "computer laptop"],
    ["\u{1F4E7}", "邮件 邮箱", "email mail"],
    ["\u{1F4E6}", "包裹 快递", "package parcel"],
    ["\u{1F69A}", "货车 物流 配送", "truck delivery"],
    ["\u{1F4B0}", "钱 钱袋 价格", "moneybag money price"],
    ["\u{1F4C6}", "日历 日期 预约", "calendar date"],
    ["\u{1F552}", "时间 时钟", "clock3 time"],
    ["\u{231B}", "沙漏 稍等", "hourglass wait"],
    ["\u{1F527}", "扳手 维修", "wrench repair"],
    ["\u{1F528}", "锤子 维修", "hammer"],
    ["\u{2699}\u{FE0F}", "设置 齿轮", "gear settings"],
    ["\u{1F512}", "锁 安全", "lock secure"],
    ["\u{1F511}", "钥匙 密码", "key password"],
    ["\u{1F50D}", "搜索 放大镜 查找", "mag search"],
    ["\u{1F4DD}", "记录 笔记 备忘", "memo note"],
    ["\u{1F4CE}", "回形针 附件", "paperclip attachment"],
    ["\u{1F4F7}", "相机 照片 拍照", "camera photo"],
    ["\u{1F3E0}", "房子 家", "house home"],
    ["\u{1F697}", "汽车 车", "car"],
    ["\u{1F680}", "火箭 快", "rocket fast"],
    ["\u{1F381}", "礼物 赠品", "gift present"],
    ["\u{1F388}", "气球", "balloon"],
    ["\u{1F9E7}", "红包", "red_envelope hongbao"],
    ["\u{1F3EE}", "灯笼 新年", "lantern"],
  ]],
  ["\u{2615}", "生活", "Life", [
    ["\u{2615}", "咖啡", "coffee"],
    ["\u{1F375}", "茶 喝茶", "tea"],
    ["\u{1F37A}", "啤酒 干杯", "beer cheers"],
    ["\u{1F370}", "蛋糕 生日", "cake birthday"],
    ["\u{1F35A}", "米饭 吃饭", "rice meal"],
    ["\u{1F95F}", "饺子", "dumpling"],
    ["\u{1F339}", "玫瑰 花", "rose flower"],
    ["\u{2600}\u{FE0F}", "太阳 晴天", "sunny sun"],
    ["\u{2601}\u{FE0F}", "云 多云", "cloud"],
    ["\u{2614}", "下雨 雨伞", "umbrella rain"],
    ["\u{26A1}", "闪电 快", "zap lightning"],
    ["\u{1F436}", "狗 小狗", "dog"],
    ["\u{1F431}", "猫 小猫", "cat"],
  ]],
];

const adopted = new WeakSet(); // style roots that already have the sheet

function adopt(styleRoot) {
  if (adopted.has(styleRoot)) return;
  adopted.add(styleRoot);
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    styleRoot.adoptedStyleSheets = [...styleRoot.adoptedStyleSheets, sheet];
  } catch (_) { // no constructable stylesheets (Safari before 16.4): a style element
    const style = document.createElement("style");
    style.textContent = CSS;
    (styleRoot.head || styleRoot).appendChild(style);
  }
}

function button(text, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.title = label;
  b.setAttribute("aria-label", label);
  return b;
}

/** Put the picker above `before`; return { close }. */
export function openPicker({ before, styleRoot, labels, lang, onPick, onClose }) {
  adopt(styleRoot);
  const zh = String(lang || "").toLowerCase().startsWith("zh");
  const box = document.createElement("div");
  box.className = "cb-emoji";
  box.dataset.cb = "emoji-picker";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", labels.title || labels.search);
  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = labels.search;
  search.setAttribute("aria-label", labels.search);
  search.dataset.cb = "emoji-search";
  const tabs = document.createElement("div");
  tabs.className = "cb-tabs";
  tabs.setAttribute("role", "tablist");
  const grid = document.createElement("div");
  grid.className = "cb-grid";
  grid.dataset.cb = "emoji-grid";

  function show(items) {
    grid.replaceChildren(...items.map(([e, cn, en]) => {
      const b = button(e, (zh ? cn : en).split(" ")[0]);
      b.dataset.emoji = e;
      return b;
    }));
    if (!items.length) {
      const none = document.createElement("div");
      none.className = "cb-none";
      none.textContent = "\u2014";
      grid.append(none);
    }
  }

  function showGroup(index) {
    [...tabs.children].forEach((t, i) => t.setAttribute("aria-selected", String(i === index)));
    show(GROUPS[index][3]);
  }

  GROUPS.forEach(([icon, cn, en], i) => {
    const tab = button(icon, zh ? cn : en);
    tab.setAttribute("role", "tab");
    tab.addEventListener("click", () => { search.value = ""; showGroup(i); });
    tabs.append(tab);
  });

  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase().replace(/^:|:$/g, "");
    if (!q) { showGroup(0); return; }
    [...tabs.children].forEach((t) => t.setAttribute("aria-selected", "false"));
    const all = GROUPS.flatMap((g) => g[3]);
    show(all.filter(([e, cn, en]) => cn.includes(q) || en.toLowerCase().split(" ").some((w) => w.startsWith(q)) || e === q));
  });
  grid.addEventListener("click", (event) => {
    const b = event.target.closest("button[data-emoji]");
    if (b) onPick(b.dataset.emoji);
  });

  function close() {
    if (!box.isConnected) return;
    box.remove();
    onClose();
  }
  box.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.stopPropagation(); close(); } });

  box.append(search, tabs, grid);
  before.parentNode.insertBefore(box, before);
  showGroup(0);
  search.focus();
  return { close };
}
