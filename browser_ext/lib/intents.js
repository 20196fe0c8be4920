// Buyer intents of the bundled phrasebook (phrasebook/default/intents.yaml), with their Chinese
// names.  Used for the chips and the correction dropdown; an intent the service reports that is
// not listed here is shown by its id and added to the dropdown.
export const INTENTS = Object.freeze([
  ['bargaining', '议价'],
  ['colour_difference', '色差'],
  ['delivery_chase', '催发货/催物流'],
  ['damage', '破损'],
  ['missing_item', '少件/漏发'],
  ['quality_issue', '质量问题'],
  ['not_as_described', '与想象不符'],
  ['return_exchange', '退换货'],
  ['service_complaint', '服务投诉'],
  ['order_change', '改订单'],
  ['product_inquiry', '商品咨询'],
  ['shipping_inquiry', '发货咨询'],
  ['greeting', '问候'],
  ['other', '其他'],
]);

const NAMES = new Map(INTENTS);
let current = INTENTS;

// The service's own list (``welcome.intents``) wins over the bundled one, so an intent a
// supervisor adds shows up by name and in the correction menu without a new extension build.
export function useIntents(list) {
  if (!Array.isArray(list) || !list.length) return;
  current = Object.freeze(list.map(([id, name]) => [id, name || id]));
  for (const [id, name] of current) NAMES.set(id, name);
}

export function currentIntents() {
  return current;
}

export function intentName(id) {
  return NAMES.get(id) || id;
}

// Wording-rule categories (phrasebook/schema.py RULE_CATEGORIES).
export const RULE_CATEGORIES = Object.freeze({
  taboo: '服务禁语',
  shift_blame: '推卸责任',
  blame_buyer: '指责买家',
  insult: '侮辱粗话',
  off_platform: '站外引流',
  absolute_claim: '广告法极限词',
  categorical_promise: '绝对化承诺',
  negative: '否定语气',
  review_manipulation: '好评返现',
  brush_off: '敷衍回复',
  one_char: '单字回复',
  no_honorific: '缺少敬语',
  too_long: '回复过长',
});

export function categoryName(id) {
  return RULE_CATEGORIES[id] || id;
}

export const SEVERITY_NAMES = Object.freeze({ block: '禁止', warn: '提醒' });
