"""Traditional Chinese characters folded to simplified ones, for search.

557 one-to-one pairs, written by hand for Callbox from the traditional-simplified
correspondences of the 通用规范汉字表 (2013), chosen among characters common in
customer-service text (accounts, orders, payments, devices, networks). Left out on
purpose: traditional characters that are also in use in simplified text with another
meaning (乾, 著, 瞭, 徵, 於, 藉, 夥, 覆, 餘), and one-to-many ones such as 帳 (帐 or 账),
where a fold would join words that differ. Both the index and the query are folded, so
a traditional query finds simplified text and the other way round.
"""

from __future__ import annotations

# Position by position: _TRADITIONAL[i] folds to _SIMPLIFIED[i].
_TRADITIONAL = (
    "亞來係倉個們偉側偵傘備傳債傷傾僅價儀億儘優兒內兩冊凍別則剛創劃劇劉動務勝勞勢勸匯"
    "區協卻厭參叢員問啟單嗎噴噸嚇嚴囑國圍園圓圖團執報場塊塗塵墊壇壓壞壯壽夠夢奪婦孫學"
    "實寧審寫寬寶將專尋對導屆層屬師帶幣幫幹幾廟廠廣廳張彈彌後從復徹惡愛態慣慶憑憲憶應"
    "戰戲戶掃採換損搶撥撲擁擇擔據擬擴擺攜攝數斷時暫曆曉曬書會東條棄楊業極榮構槍樂樓標"
    "樣樸樹橋機檔檢櫃權歐歡歲歷歸殘殺氣決沒淺測湯準滅滿漁漢漲潤濃濕灑灣災為無煙熱燈燒"
    "營燭爭爾牆狀猶獄獎獨獲獸現瑣環產畢異當療發盞盡監盤眾碩確碼磚礙礦禮稅種稱積穩窩窮"
    "筆節範築簡簽籌糧紀約納紙級紛紮細紹結絡給統絲綁經維綱網緊線緣練縣縮縱總織繫繼續罰"
    "罷習聖聞聯聲職聽脅脫腦腳膠臉臺與興舉舊華萬葉蓋藍藝藥蘋蘭處號虧蝦蟲蠶衛衝裏補裝裡"
    "製襖襪見規視親覺覽觀觸訂計訊討託記訪設訴診註詐評詞詢試詩話該詳誌認誘語誠誤說誰課"
    "調談請諒論諸諾謀講謝證識譯議護讀變讓讚豈豐豬貓貝負財貢貨責買貸費資賊賓賞賠賣質賬"
    "賺購賽贈贊贏趙躍車軌軍軟軸較載輕輛輪輸轉辦農這連週進遊運過達遞遠適遲選遼還邊邏郵"
    "鄉鄧鄭鄰醫釋針釣鈕銀銳銷鋼錄錢錯錶鍵鍾鎖鎮鏈鏡鐘鐵鑽長門閃閉開閒間閘閥閱關陣陰陳"
    "陸陽隊階際隨險隱雖雙雜雞離難雲電霧靈鞏韋韻響頁項順預頑領頭頻題額顏願類顧顯風颱飯"
    "飲飼養館馬馳駐駕騎騙騰驅驗驚髒體髮鬆鬧魚鮮鳥鳳鳴鴨鵬鹽麗麥麵麼麽點齊齋齒龍"
)
_SIMPLIFIED = (
    "亚来系仓个们伟侧侦伞备传债伤倾仅价仪亿尽优儿内两册冻别则刚创划剧刘动务胜劳势劝汇"
    "区协却厌参丛员问启单吗喷吨吓严嘱国围园圆图团执报场块涂尘垫坛压坏壮寿够梦夺妇孙学"
    "实宁审写宽宝将专寻对导届层属师带币帮干几庙厂广厅张弹弥后从复彻恶爱态惯庆凭宪忆应"
    "战戏户扫采换损抢拨扑拥择担据拟扩摆携摄数断时暂历晓晒书会东条弃杨业极荣构枪乐楼标"
    "样朴树桥机档检柜权欧欢岁历归残杀气决没浅测汤准灭满渔汉涨润浓湿洒湾灾为无烟热灯烧"
    "营烛争尔墙状犹狱奖独获兽现琐环产毕异当疗发盏尽监盘众硕确码砖碍矿礼税种称积稳窝穷"
    "笔节范筑简签筹粮纪约纳纸级纷扎细绍结络给统丝绑经维纲网紧线缘练县缩纵总织系继续罚"
    "罢习圣闻联声职听胁脱脑脚胶脸台与兴举旧华万叶盖蓝艺药苹兰处号亏虾虫蚕卫冲里补装里"
    "制袄袜见规视亲觉览观触订计讯讨托记访设诉诊注诈评词询试诗话该详志认诱语诚误说谁课"
    "调谈请谅论诸诺谋讲谢证识译议护读变让赞岂丰猪猫贝负财贡货责买贷费资贼宾赏赔卖质账"
    "赚购赛赠赞赢赵跃车轨军软轴较载轻辆轮输转办农这连周进游运过达递远适迟选辽还边逻邮"
    "乡邓郑邻医释针钓钮银锐销钢录钱错表键钟锁镇链镜钟铁钻长门闪闭开闲间闸阀阅关阵阴陈"
    "陆阳队阶际随险隐虽双杂鸡离难云电雾灵巩韦韵响页项顺预顽领头频题额颜愿类顾显风台饭"
    "饮饲养馆马驰驻驾骑骗腾驱验惊脏体发松闹鱼鲜鸟凤鸣鸭鹏盐丽麦面么么点齐斋齿龙"
)

PAIRS = len(_TRADITIONAL)
FOLD = str.maketrans(_TRADITIONAL, _SIMPLIFIED)


def pairs() -> list[tuple[str, str]]:
    """Return the table as (traditional, simplified) pairs."""
    return list(zip(_TRADITIONAL, _SIMPLIFIED, strict=True))
